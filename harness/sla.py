"""The SLA config: one TOML file with every target the checks, alerts and baselines use.

``load_sla()`` reads the packaged default (``harness/sla.toml``) or a given file and validates it; any
problem becomes one :class:`SLAConfigError` naming the file and each offending key. ``level_for(speed)``
picks the latency level that applies to a replay speed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_SLA_PATH = Path(__file__).with_name("sla.toml")


class SLAConfigError(ValueError):
    """An SLA file that cannot be used (the message names the file and every problem)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Percentiles(_Strict):
    """Latency bounds in milliseconds (None: not asserted)."""

    p50_ms: float | None = Field(default=None, gt=0)
    p99_ms: float | None = Field(default=None, gt=0)
    p999_ms: float | None = Field(default=None, gt=0)


class LatencyLevel(Percentiles):
    """Latency bounds for runs whose replay speed is at most ``max_speed``."""

    level: str
    max_speed: float = Field(gt=0)
    streams: dict[str, Percentiles] = Field(default_factory=dict)

    def for_stream(self, kind: str) -> Percentiles:
        """The bounds for one stream type (its override, else the level's own)."""
        override = self.streams.get(kind)
        if override is None:
            return Percentiles(p50_ms=self.p50_ms, p99_ms=self.p99_ms, p999_ms=self.p999_ms)
        return Percentiles(
            p50_ms=override.p50_ms or self.p50_ms,
            p99_ms=override.p99_ms or self.p99_ms,
            p999_ms=override.p999_ms or self.p999_ms,
        )


class Recovery(_Strict):
    """Seconds from a fault's end to data flowing again / every book valid again."""

    data_flowing_s: float = Field(gt=0)
    book_valid_s: float = Field(gt=0)


class Memory(_Strict):
    """The feed process's resident memory: slope after warm-up and a ceiling."""

    warmup_s: float = Field(ge=0)
    rss_slope_mb_per_min: float = Field(gt=0)
    rss_max_mb: float = Field(gt=0)


class Loss(_Strict):
    """Loss the feed may not hide: unreported missing ids and duplicate deliveries."""

    unreported_ids: int = Field(ge=0)
    duplicates: int = Field(ge=0)


class Buffer(_Strict):
    """Peak buffered events as a fraction of the configured buffer capacity."""

    high_water_fraction: float = Field(gt=0, le=1)


class Alerts(_Strict):
    """Alert thresholds with no SLA counterpart (see observability/)."""

    for_latency: str = "1m"
    stale_for: str = "30s"
    reconnects_per_5m: float = Field(default=10, gt=0)
    resyncs_per_5m: float = Field(default=20, gt=0)
    gaps_per_5m: float = Field(default=20, gt=0)
    dlq_growth_per_5m: float = Field(default=1, gt=0)
    buffer_fill_fraction: float = Field(default=0.8, gt=0, le=1)


class SLAConfig(_Strict):
    """Every target of the project (see harness/sla.toml)."""

    version: int = Field(ge=1, le=1)
    latency: list[LatencyLevel] = Field(min_length=1)
    recovery: Recovery
    memory: Memory
    loss: Loss
    buffer: Buffer
    alerts: Alerts = Field(default_factory=Alerts)

    @model_validator(mode="after")
    def _levels_ascend(self) -> SLAConfig:
        speeds = [level.max_speed for level in self.latency]
        if speeds != sorted(speeds) or len(set(speeds)) != len(speeds):
            raise ValueError("latency levels must be listed by strictly increasing max_speed")
        return self

    def level_for(self, speed: float) -> LatencyLevel:
        """The first latency level whose ``max_speed`` covers ``speed`` (the last one beyond them all)."""
        for level in self.latency:
            if speed <= level.max_speed:
                return level
        return self.latency[-1]


def load_sla(path: Path | None = None) -> SLAConfig:
    """Read and validate an SLA file (default: the packaged harness/sla.toml)."""
    path = path or DEFAULT_SLA_PATH
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SLAConfigError(f"{path}: no such SLA file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SLAConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        return SLAConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}" for err in exc.errors()
        )
        raise SLAConfigError(f"{path}: invalid SLA config: {problems}") from None
