"""The feed's Prometheus alert rules, built from the SLA config.

``RuleSettings.from_sla(load_sla())`` takes every threshold from the SLA file: the latency alert the p99 of
the ``recorded-speed`` level, the others the ``[alerts]`` table. ``alert_rules(settings)`` returns the
alerts; ``rules_document`` the rule file Prometheus loads. Tests build settings with short windows and
``for`` durations (``RuleSettings.from_sla(sla, latency_window="5s", ...)``) to see alerts fire in seconds.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from feed.metrics import LATENCY_BUCKETS
from harness.sla import SLAConfig
from observability import names as n
from observability.promql import parse_duration

LATENCY_LEVEL = "recorded-speed"
"""The SLA latency level the latency alert uses (live data arrives at recorded speed)."""
LATENCY_QUANTILE = 0.99


class RuleConfigError(ValueError):
    """The SLA config cannot produce the alert rules (the message says why)."""


@dataclass(frozen=True)
class RuleSettings:
    """Thresholds and timings of the alert rules."""

    latency_p99_s: float
    latency_for: str
    stale_for: str
    reconnects: float
    resyncs: float
    gaps: float
    dlq_growth: float
    buffer_fill: float
    count_window: str = "5m"  # the [alerts] thresholds are counts per 5 minutes
    latency_window: str = "5m"  # rate() window of the latency histogram
    buffer_for: str = "1m"
    down_for: str = "1m"
    absent_for: str = "5m"
    runbook_url: str = n.RUNBOOK_URL

    @classmethod
    def from_sla(cls, sla: SLAConfig, **overrides: Any) -> RuleSettings:
        """Thresholds from ``sla``; ``overrides`` replace fields (tests shorten windows and durations)."""
        level = next((lv for lv in sla.latency if lv.level == LATENCY_LEVEL), None)
        if level is None or level.p99_ms is None:
            raise RuleConfigError(
                f"the SLA config has no latency level {LATENCY_LEVEL!r} with p99_ms: the latency alert "
                "takes its threshold from it"
            )
        alerts = sla.alerts
        settings = cls(
            latency_p99_s=level.p99_ms / 1000,
            latency_for=alerts.for_latency,
            stale_for=alerts.stale_for,
            reconnects=alerts.reconnects_per_5m,
            resyncs=alerts.resyncs_per_5m,
            gaps=alerts.gaps_per_5m,
            dlq_growth=alerts.dlq_growth_per_5m,
            buffer_fill=alerts.buffer_fill_fraction,
        )
        settings = dataclasses.replace(settings, **overrides)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise RuleConfigError for durations Prometheus would reject or a threshold no bucket resolves."""
        durations = ("latency_for", "stale_for", "count_window", "latency_window", "buffer_for", "down_for")
        for name in (*durations, "absent_for"):
            value = getattr(self, name)
            try:
                parse_duration(value)
            except ValueError:
                raise RuleConfigError(f"{name}: {value!r} is not a Prometheus duration") from None
        if not LATENCY_BUCKETS[0] < self.latency_p99_s < LATENCY_BUCKETS[-1]:
            raise RuleConfigError(
                f"latency p99 threshold {self.latency_p99_s} s is outside the histogram's buckets "
                f"({LATENCY_BUCKETS[0]}..{LATENCY_BUCKETS[-1]} s): the alert could never resolve it"
            )


@dataclass(frozen=True)
class Alert:
    """One alerting rule; ``summary`` and ``description`` may use ``{{ $labels.NAME }}`` only."""

    name: str
    expr: str
    severity: str
    summary: str
    description: str
    for_: str = "0s"

    @property
    def anchor(self) -> str:
        """Its section in docs/runbook.md (GitHub's anchor of a ``## AlertName`` heading)."""
        return self.name.lower()

    def rule(self, runbook_url: str) -> dict[str, Any]:
        """The rule as Prometheus's rule file writes it."""
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if parse_duration(self.for_) > 0:
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity, "component": "feed"}
        rule["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": f"{runbook_url}#{self.anchor}",
        }
        return rule


def _num(value: float) -> str:
    """A threshold as PromQL writes it (no trailing ``.0``)."""
    return f"{value:g}"


def _human_seconds(seconds: float) -> str:
    return f"{seconds * 1000:g} ms" if seconds < 1 else f"{seconds:g} s"


def alert_rules(s: RuleSettings) -> list[Alert]:
    """Every alert of the feed, in the order of docs/runbook.md."""
    target = f'{n.UP}{{job="{n.JOB}"}}'
    by_target = "job, instance"
    by_venue = "job, instance, venue"  # one feed may ingest several venues: each alerts on its own
    p99 = _human_seconds(s.latency_p99_s)
    win = s.count_window
    return [
        Alert(
            "TickstormFeedDown",
            f"{target} == 0",
            "critical",
            "Feed {{ $labels.instance }} cannot be scraped",
            f"Prometheus has failed to scrape the feed's /metrics for {s.down_for}: the feed process is "
            "down, hung, or its metrics port is unreachable.",
            s.down_for,
        ),
        Alert(
            "TickstormFeedMetricsAbsent",
            f"absent({target})",
            "critical",
            f"No {n.JOB} target is known to Prometheus",
            f"No scrape target with job={n.JOB} has existed for {s.absent_for}: the feed is not deployed or "
            "service discovery lost it.",
            s.absent_for,
        ),
        Alert(
            "TickstormFeedLatencyHigh",
            f"histogram_quantile({LATENCY_QUANTILE}, sum by ({by_venue}, le) "
            f"(rate({n.LATENCY}_bucket[{s.latency_window}]))) > {_num(s.latency_p99_s)}",
            "warning",
            "Feed {{ $labels.instance }}: p99 latency from {{ $labels.venue }} above " + p99,
            f"The p99 of venue event time to feed receive time over {s.latency_window} has been above the "
            f"SLA's {p99} ({LATENCY_LEVEL} level) for {s.latency_for}.",
            s.latency_for,
        ),
        Alert(
            "TickstormFeedStreamStale",
            f"max by ({by_venue}, symbol, stream) ({n.STREAM_STALE}) > 0",
            "warning",
            "Feed {{ $labels.instance }}: {{ $labels.venue }} stream {{ $labels.stream }} is stale",
            "The stream has delivered nothing for longer than its staleness threshold, continuously for "
            f"{s.stale_for}, while the feed is up.",
            s.stale_for,
        ),
        Alert(
            "TickstormFeedReconnectsFrequent",
            f"sum by ({by_venue}) (increase({n.RECONNECTS}[{win}])) >= {_num(s.reconnects)}",
            "warning",
            "Feed {{ $labels.instance }} reconnects to {{ $labels.venue }} often",
            f"At least {_num(s.reconnects)} WebSocket connections were lost and re-established in {win}.",
        ),
        Alert(
            "TickstormFeedGapsFrequent",
            f"sum by ({by_venue}, stream_kind) (increase({n.GAPS}[{win}])) >= {_num(s.gaps)}",
            "warning",
            "Feed {{ $labels.instance }}: frequent gaps on {{ $labels.venue }} "
            "{{ $labels.stream_kind }} streams",
            f"At least {_num(s.gaps)} gaps (ids the feed reports as never delivered) in {win} on "
            "{{ $labels.stream_kind }} streams.",
        ),
        Alert(
            "TickstormFeedResyncsFrequent",
            f"sum by ({by_venue}) (increase({n.RESYNCS}[{win}])) >= {_num(s.resyncs)}",
            "warning",
            "Feed {{ $labels.instance }} resynchronises {{ $labels.venue }} order books often",
            f"At least {_num(s.resyncs)} order book resynchronisations (REST snapshot after a sequence gap) "
            f"in {win}.",
        ),
        Alert(
            "TickstormFeedDeadLettersGrowing",
            f"sum by ({by_venue}) (increase({n.DLQ}[{win}])) >= {_num(s.dlq_growth)}",
            "warning",
            "Feed {{ $labels.instance }} is writing {{ $labels.venue }} frames to its dead letter queue",
            f"At least {_num(s.dlq_growth)} frame(s) rejected into the dead letter queue in {win}.",
        ),
        Alert(
            "TickstormFeedBufferNearFull",
            f"max by ({by_target}, buffer) ({n.BUFFER_DEPTH} / {n.BUFFER_CAPACITY}) >= {_num(s.buffer_fill)}",
            "critical",
            "Feed {{ $labels.instance }}: {{ $labels.buffer }} buffer near full",
            f"The fullest {{{{ $labels.buffer }}}} buffer has been at least {s.buffer_fill:.0%} full for "
            f"{s.buffer_for}; beyond its capacity events are dropped (and reported as gaps).",
            s.buffer_for,
        ),
    ]


def rules_document(s: RuleSettings) -> dict[str, Any]:
    """The rule file: one group with every alert."""
    return {"groups": [{"name": n.RULE_GROUP, "rules": [a.rule(s.runbook_url) for a in alert_rules(s)]}]}


_LABEL_TEMPLATE = re.compile(r"\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


def render_annotation(template: str, labels: dict[str, str]) -> str:
    """An annotation as Prometheus renders it for ``labels`` (only ``{{ $labels.NAME }}`` is used here)."""
    if "{{" in _LABEL_TEMPLATE.sub("", template):
        raise ValueError(f"annotation uses more than $labels: {template!r}")
    return _LABEL_TEMPLATE.sub(lambda m: labels.get(m.group(1), ""), template)


def describe_timings(s: RuleSettings) -> str:
    """One line with the windows and durations in force (for logs)."""
    return (
        f"latency p99 > {_human_seconds(s.latency_p99_s)} over {s.latency_window} for {s.latency_for}; "
        f"stale for {s.stale_for}; counts per {s.count_window}; buffer for {s.buffer_for}; "
        f"down for {s.down_for}"
    )
