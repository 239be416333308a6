"""The feed's settings: one validated model fed by CLI flags, environment variables and a TOML file.

Precedence, highest first: keyword overrides (CLI flags; ``None`` means "not given") > environment
variables ``TICKSTORM_FEED_<OPTION>`` > the TOML file (top-level keys, or its ``[feed]`` table when it has
one) > defaults. :func:`load_settings` turns every problem into one :class:`ConfigError` that names each
offending option and where its value came from. docs/configuration.md lists every option (a test keeps it
in step with this model).
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError

from feed.buffer import OverflowPolicy
from feed.limits import binance_depth_weight

ENV_PREFIX = "TICKSTORM_FEED_"
TOML_TABLE = "feed"

SYMBOL_RE = re.compile(r"[a-z0-9_]{2,30}")
KLINE_INTERVALS = (
    "1s",
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1d",
    "3d",
    "1w",
    "1M",
)
STREAM_KINDS = (
    "trade",
    "aggTrade",
    "depth",
    "depth@100ms",
    "bookTicker",
    *(f"kline_{i}" for i in KLINE_INTERVALS),
)
SNAPSHOT_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)

_toml_source: contextvars.ContextVar[PydanticBaseSettingsSource | None] = contextvars.ContextVar(
    "tickstorm_feed_toml_source", default=None
)


class ConfigError(ValueError):
    """Invalid feed configuration; ``problems`` holds one readable line per offending option."""

    def __init__(self, problems: list[str], header: str = "invalid feed configuration") -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"{header} ({count}):\n" + "\n".join(f"  - {p}" for p in problems))


def _split_list(value: Any) -> Any:
    """Accept ``"a,b"`` (env vars, CLI flags) or a JSON array string as well as a real list."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a valid JSON list: {exc}") from None
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class FeedSettings(BaseSettings):
    """Every setting of the reference feed (see docs/configuration.md)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        case_sensitive=False,
        validate_default=True,
    )

    venue: Literal["binance-spot"] = Field(default="binance-spot", description="Venue protocol to ingest.")
    symbols: Annotated[list[str], NoDecode] = Field(
        default=["btcusdt"],
        description="Symbols to subscribe (lower-cased; a comma-separated string is accepted).",
    )
    streams: Annotated[list[str], NoDecode] = Field(
        default=["trade", "depth@100ms", "bookTicker"],
        description=(
            "Streams per symbol: trade, aggTrade, depth, depth@100ms, bookTicker, kline_<interval> "
            "(comma-separated string accepted)."
        ),
    )
    ws_url: str = Field(default="wss://stream.binance.com:9443", description="WebSocket stream base URL.")
    ws_client: Literal["picows", "websockets"] = Field(
        default="picows", description="WebSocket client library (picows measured fastest; see docs/feed.md)."
    )
    rest_url: str = Field(
        default="https://api.binance.com", description="REST base URL (snapshots, backfill)."
    )
    max_streams_per_connection: int = Field(
        default=200, ge=1, le=1024, description="Streams per WebSocket connection (venue limit 1024)."
    )
    control_messages_per_second: float = Field(
        default=4.0,
        gt=0,
        le=5,
        description="Control messages sent per second per connection (venue limit 5).",
    )
    connection_attempts_per_5min: int = Field(
        default=240,
        ge=1,
        le=300,
        description="Connection attempts per 5 minutes, all connections (venue limit 300).",
    )
    backoff_base_s: float = Field(
        default=0.5, gt=0, description="First reconnect delay bound in seconds (full jitter)."
    )
    backoff_cap_s: float = Field(default=30.0, gt=0, description="Largest reconnect delay bound in seconds.")
    backoff_stable_after_s: float = Field(
        default=30.0, ge=0, description="A connection up this long resets the reconnect backoff."
    )
    idle_timeout_s: float = Field(
        default=10.0, gt=0, description="No frame at all for this long means the peer is dead: reconnect."
    )
    ping_interval_s: float = Field(default=20.0, gt=0, description="Seconds between client pings.")
    rotate_after_s: float = Field(
        default=23.5 * 3600,
        gt=0,
        description="Planned make-before-break rotation of a connection after this many seconds.",
    )
    rotation_overlap_s: float = Field(
        default=2.0, ge=0, description="Seconds old and new connections overlap during a rotation."
    )
    snapshot_limit: int = Field(
        default=1000, description="Depth snapshot levels: 5, 10, 20, 50, 100, 500, 1000 or 5000."
    )
    rest_weight_per_minute: int = Field(
        default=3000,
        ge=1,
        le=6000,
        description="REST weight the feed allows itself per minute (venue limit 6000).",
    )
    rest_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one REST request in seconds.")
    buffer_capacity: int = Field(
        default=100_000, ge=1, description="Events buffered per stream during reconnection or book resync."
    )
    overflow_policy: OverflowPolicy = Field(
        default=OverflowPolicy.DROP_OLDEST,
        description="When a buffer is full: drop_oldest or drop_newest (every drop is reported as a gap).",
    )
    reorder_window_ms: float = Field(
        default=50.0, ge=0, description="How long an out-of-order id waits for the ids before it."
    )
    backfill: bool = Field(
        default=True, description="Fetch missed trades over REST (aggTrades) after an outage."
    )
    backfill_max_pages: int = Field(
        default=20, ge=1, description="Most REST pages fetched to backfill one hole."
    )
    stale_factor: float = Field(
        default=10.0, gt=0, description="A stream is stale after this many times its typical message gap."
    )
    stale_floor_s: float = Field(default=1.0, gt=0, description="Shortest staleness threshold in seconds.")
    stale_ceiling_s: float = Field(
        default=60.0,
        gt=0,
        description="Longest staleness threshold in seconds (also used until the rate is known).",
    )
    dlq_path: Path | None = Field(
        default=Path("feed-dlq.sqlite"),
        description="SQLite dead letter queue file; empty or none disables it.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", min_length=1, description="Address the metrics endpoint binds to."
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of the Prometheus /metrics endpoint; unset disables it.",
    )
    jsonl: Path | None = Field(
        default=None, description="Write one JSON object per delivered event to this file."
    )
    # -- downstream server (feed/downstream, docs/downstream.md) -------------------------------------------
    serve_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address the downstream WebSocket and HTTP servers bind to.",
    )
    serve_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of the downstream WebSocket server (0: any free port); unset disables it.",
    )
    serve_http_port: int | None = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of the downstream HTTP API while serving (0: any free port); unset disables it.",
    )
    serve_queue_capacity: int = Field(
        default=10_000, ge=1, description="Events queued per downstream consumer before its policy acts."
    )
    serve_slow_policy: Literal["drop_oldest", "disconnect"] = Field(
        default="drop_oldest",
        description="Full consumer queue: drop_oldest (gap events) or disconnect after serve_slow_grace_s.",
    )
    serve_slow_grace_s: float = Field(
        default=5.0, gt=0, description="Seconds a consumer queue may stay full before 'disconnect' acts."
    )
    serve_max_batch: int = Field(
        default=500, ge=1, description="Most events in one WebSocket message to a consumer."
    )
    serve_send_buffer_bytes: int | None = Field(
        default=262_144,
        ge=4096,
        description="Kernel send buffer (SO_SNDBUF) per consumer socket; unset keeps the OS default.",
    )
    debug_retain_events: bool = Field(
        default=False,
        description=(
            "Testing only: keep every delivered event in memory forever (a deliberate leak that the soak "
            "scenario's memory check must catch). Never set it in production."
        ),
    )
    debug_tracemalloc: bool = Field(
        default=False,
        description=(
            "Diagnostics: trace Python allocations with tracemalloc (the feed runs markedly slower) and put "
            "the top allocation growth since start into the --state-out file."
        ),
    )
    resume: bool = Field(
        default=False,
        description=(
            "Continue from the jsonl journal of an earlier run (after a crash): append to it and start each "
            "stream after its last delivered id, so missed ids are backfilled or reported as gaps."
        ),
    )

    # -- validators -------------------------------------------------------------------------------------

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbols_before(cls, value: Any) -> Any:
        value = _split_list(value)
        if isinstance(value, list):
            return [v.strip().lower() if isinstance(v, str) else v for v in value]
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols_valid(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one symbol is required")
        bad = [s for s in value if not SYMBOL_RE.fullmatch(s)]
        if bad:
            raise ValueError(f"invalid symbol(s) {bad}: each must match [a-z0-9_]{{2,30}}")
        return _dedupe(value)

    @field_validator("streams", mode="before")
    @classmethod
    def _streams_before(cls, value: Any) -> Any:
        value = _split_list(value)
        if isinstance(value, list):
            return [v.strip() if isinstance(v, str) else v for v in value]
        return value

    @field_validator("streams")
    @classmethod
    def _streams_valid(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one stream is required")
        bad = [s for s in value if s not in STREAM_KINDS]
        if bad:
            raise ValueError(
                f"unknown stream(s) {bad}: use trade, aggTrade, depth, depth@100ms, bookTicker or "
                f"kline_<{'|'.join(KLINE_INTERVALS)}>"
            )
        return _dedupe(value)

    @field_validator("ws_url")
    @classmethod
    def _ws_url_valid(cls, value: str) -> str:
        if not re.match(r"wss?://[^/\s]+", value):
            raise ValueError("must be a ws:// or wss:// URL")
        return value.rstrip("/")

    @field_validator("rest_url")
    @classmethod
    def _rest_url_valid(cls, value: str) -> str:
        if not re.match(r"https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("backoff_cap_s")
    @classmethod
    def _cap_after_base(cls, value: float, info: ValidationInfo) -> float:
        base = info.data.get("backoff_base_s")
        if base is not None and value < base:
            raise ValueError(f"must be >= backoff_base_s ({base})")
        return value

    @field_validator("rotation_overlap_s")
    @classmethod
    def _overlap_shorter(cls, value: float, info: ValidationInfo) -> float:
        rotate = info.data.get("rotate_after_s")
        if rotate is not None and value >= rotate:
            raise ValueError(f"must be < rotate_after_s ({rotate})")
        return value

    @field_validator("snapshot_limit")
    @classmethod
    def _snapshot_limit_valid(cls, value: int) -> int:
        if value not in SNAPSHOT_LIMITS:
            raise ValueError(f"must be one of {', '.join(map(str, SNAPSHOT_LIMITS))}")
        return value

    @field_validator("rest_weight_per_minute")
    @classmethod
    def _weight_fits_snapshot(cls, value: int, info: ValidationInfo) -> int:
        limit = info.data.get("snapshot_limit")
        if limit is not None and value < binance_depth_weight(limit):
            raise ValueError(
                f"must be >= {binance_depth_weight(limit)}, the weight of one depth snapshot "
                f"with snapshot_limit={limit}"
            )
        return value

    @field_validator("stale_ceiling_s")
    @classmethod
    def _ceiling_above_floor(cls, value: float, info: ValidationInfo) -> float:
        floor = info.data.get("stale_floor_s")
        if floor is not None and value < floor:
            raise ValueError(f"must be >= stale_floor_s ({floor})")
        return value

    @field_validator("dlq_path", "jsonl", "metrics_port", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "null"):
            return None
        return value

    @field_validator("serve_port", "serve_http_port", "serve_send_buffer_bytes", mode="before")
    @classmethod
    def _serve_empty_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "null"):
            return None
        return value

    # -- sources ----------------------------------------------------------------------------------------

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Overrides > env vars > the TOML file given to :func:`load_settings` (no .env, no secrets dir)."""
        toml = _toml_source.get()
        return (init_settings, env_settings) if toml is None else (init_settings, env_settings, toml)

    # -- derived ----------------------------------------------------------------------------------------

    def stream_names(self) -> list[str]:
        """Binance stream names for every symbol x stream, e.g. ``btcusdt@trade``."""
        return [f"{symbol}@{stream}" for symbol in self.symbols for stream in self.streams]


class FeedTomlSource(TomlConfigSettingsSource):
    """pydantic-settings' TOML source reading top-level keys, or only the ``[feed]`` table when present."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        data = super()._read_file(file_path)
        table = data.get(TOML_TABLE)
        self.used_table = isinstance(table, dict)
        return table if isinstance(table, dict) else data


# -- loading -------------------------------------------------------------------------------------------


def env_var(option: str) -> str:
    """The environment variable that sets ``option``."""
    return f"{ENV_PREFIX}{option.upper()}"


def _env_options() -> dict[str, str]:
    """Options present in the environment (lower-case option -> variable name as spelled)."""
    found: dict[str, str] = {}
    for name in os.environ:
        if name.upper().startswith(ENV_PREFIX):
            found[name[len(ENV_PREFIX) :].lower()] = name
    return found


def _loc_name(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "(settings)"
    name = str(loc[0])
    for part in loc[1:]:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def load_settings(toml_path: Path | None = None, **overrides: Any) -> FeedSettings:
    """Build the settings: overrides (None ignored) > env vars > TOML file > defaults.

    Raises :class:`ConfigError` for anything wrong: unknown option, wrong type, out-of-range value,
    missing, unreadable or invalid TOML file.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    toml: FeedTomlSource | None = None
    toml_label = ""
    if toml_path is not None:
        path = Path(toml_path)
        toml_label = f"TOML file {path}"
        if not path.exists():
            raise ConfigError([f"{toml_label}: no such file"], header="cannot read feed configuration")
        if not path.is_file():
            raise ConfigError([f"{toml_label}: not a regular file"], header="cannot read feed configuration")
        try:
            toml = FeedTomlSource(FeedSettings, toml_file=path)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                [f"{toml_label}: invalid TOML: {exc}"], header="cannot read feed configuration"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                [f"{toml_label}: cannot read: {exc}"], header="cannot read feed configuration"
            ) from None
        if getattr(toml, "used_table", False):
            toml_label += f" [{TOML_TABLE}]"
    toml_data: dict[str, Any] = dict(toml.toml_data) if toml is not None else {}
    env = _env_options()
    fields = FeedSettings.model_fields

    def source_of(option: str) -> str:
        if option in given:
            return "command line / argument"
        if option in env:
            return f"env {env[option]}"
        if option in toml_data:
            return toml_label
        return "default"

    problems = [
        f"{name}: unknown option (from env {name_as_spelled})"
        for name, name_as_spelled in sorted(env.items())
        if name not in fields
    ]
    token = _toml_source.set(toml)
    try:
        settings = FeedSettings(**given)
    except ValidationError as exc:
        for error in exc.errors():
            loc = error.get("loc", ())
            option = str(loc[0]) if loc else ""
            if option not in fields and option in env:
                continue  # already reported above
            where = source_of(option) if option else "settings"
            if error.get("type") == "extra_forbidden":
                problems.append(f"{option}: unknown option (from {where})")
                continue
            got = f", got {_short(error['input'])}" if "input" in error and where != "default" else ""
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{_loc_name(tuple(loc))}: {message}{got} (from {where})")
        raise ConfigError(problems) from None
    except SettingsError as exc:
        problems.append(str(exc))
        raise ConfigError(problems) from None
    finally:
        _toml_source.reset(token)
    if problems:
        raise ConfigError(problems)
    return settings
