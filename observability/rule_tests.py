"""promtool unit tests of the alert rules, built from the same settings as the rules.

Every alert gets a test case with a healthy target (``instance="good:9464"``) and one that breaks at
``T0`` (``instance="bad:9464"``). Each case checks that nothing fires just before the fault, that an alert
with a ``for`` duration is still only pending just before it has held that long, and that at the end only
the broken target fires, with exactly the expected labels and annotations. Series values are derived from
the thresholds (half of the threshold while healthy, well beyond it when broken), so a threshold changed in
harness/sla.toml changes the tests with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from feed.metrics import LATENCY_BUCKETS
from observability import names as n
from observability.promql import format_duration, parse_duration
from observability.rules import Alert, RuleSettings, alert_rules, render_annotation

STEP_S = 15.0
"""Sample and evaluation interval of the tests."""
T0 = 40
"""Step at which the broken target breaks (10 minutes of healthy history first)."""
GOOD, BAD = "good:9464", "bad:9464"
OBSERVATIONS_PER_STEP = 150  # latency histogram: 10 events per second


def _compress(values: list[float]) -> str:
    """promtool's expanding notation: runs of a constant step become ``start+stepxN``."""
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i + 1
        if j < len(values):
            step = values[j] - values[i]
            while j + 1 < len(values) and math.isclose(values[j + 1] - values[j], step, abs_tol=1e-9):
                j += 1
            count = j - i
            parts.append(f"{_fmt(values[i])}{'+' if step >= 0 else ''}{_fmt(step)}x{count}")
            i = j + 1
        else:
            parts.append(_fmt(values[i]))
            i = j
    return " ".join(parts)


def _fmt(value: float) -> str:
    return f"{round(value, 9):g}"


def _series(name: str, labels: dict[str, str], values: list[float]) -> dict[str, str]:
    body = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{body}}}", "values": _compress(values)}


class _Builder:
    """Series shapes over ``steps`` samples: healthy until T0, broken after."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def gauge(self, healthy: float, broken: float | None = None) -> list[float]:
        broken = healthy if broken is None else broken
        return [healthy if k < T0 else broken for k in range(self.steps)]

    def counter(self, per_step: float, broken_per_step: float | None = None) -> list[float]:
        broken_per_step = per_step if broken_per_step is None else broken_per_step
        out, total = [], 0.0
        for k in range(self.steps):
            out.append(total)
            total += per_step if k < T0 else broken_per_step
        return out


def _labels(alert: Alert, labels: dict[str, str]) -> dict[str, str]:
    return {**labels, "severity": alert.severity, "component": "feed"}


def _expected(alert: Alert, settings: RuleSettings, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "exp_labels": _labels(alert, labels),
        "exp_annotations": {
            "summary": render_annotation(alert.summary, labels),
            "description": render_annotation(alert.description, labels),
            "runbook_url": f"{settings.runbook_url}#{alert.anchor}",
        },
    }


def _steps(duration: str) -> int:
    return math.ceil(parse_duration(duration) / STEP_S)


def _at(step: int) -> str:
    return format_duration(step * STEP_S)


def _checks(
    alert: Alert, settings: RuleSettings, end: int, firing: list[dict[str, str]]
) -> list[dict[str, Any]]:
    """Nothing before T0, only pending just before ``for`` has elapsed, ``firing`` at ``end``."""
    checks: list[dict[str, Any]] = [{"eval_time": _at(T0 - 1), "alertname": alert.name, "exp_alerts": []}]
    hold = _steps(alert.for_)
    if hold >= 2:
        checks.append({"eval_time": _at(T0 + hold - 1), "alertname": alert.name, "exp_alerts": []})
    checks.append(
        {
            "eval_time": _at(end),
            "alertname": alert.name,
            "exp_alerts": [_expected(alert, settings, labels) for labels in firing],
        }
    )
    return checks


def _latency_buckets(threshold: float) -> tuple[float, float]:
    """Upper bounds of a bucket entirely below the threshold and of one entirely above it."""
    below = max(b for b in LATENCY_BUCKETS if b <= threshold / 2)
    lower_of_above = min(b for b in LATENCY_BUCKETS if b >= threshold)
    above = LATENCY_BUCKETS[LATENCY_BUCKETS.index(lower_of_above) + 1]
    return below, above


def _latency_series(
    b: _Builder, settings: RuleSettings, labels: dict[str, str], broken: bool
) -> list[dict[str, str]]:
    below, above = _latency_buckets(settings.latency_p99_s)
    fast = b.counter(OBSERVATIONS_PER_STEP, 0 if broken else OBSERVATIONS_PER_STEP)
    slow = b.counter(0, OBSERVATIONS_PER_STEP if broken else 0)
    out = []
    for le in (*LATENCY_BUCKETS, math.inf):
        values = [
            (f if le >= below else 0) + (s if le >= above else 0) for f, s in zip(fast, slow, strict=True)
        ]
        label = "+Inf" if le == math.inf else _fmt(le)
        out.append(_series(f"{n.LATENCY}_bucket", {**labels, "le": label}, values))
    return out


def unit_tests_document(settings: RuleSettings, rule_file: str = "../alerts.yml") -> dict[str, Any]:
    """The promtool test file (``rule_files`` relative to the test file)."""
    alerts = {a.name: a for a in alert_rules(settings)}
    longest = max(
        parse_duration(d)
        for d in (settings.count_window, settings.latency_window, *(a.for_ for a in alerts.values()))
    )
    end = T0 + math.ceil(longest / STEP_S) * 2 + 4
    steps = end + 1
    b = _Builder(steps)
    good = {"job": n.JOB, "instance": GOOD}
    bad = {"job": n.JOB, "instance": BAD}
    # Per-venue alerts: the broken target also ingests a healthy venue, which must stay silent.
    good_v = {**good, "venue": "binance-spot"}
    bad_v = {**bad, "venue": "spot-b"}
    calm_v = {**bad, "venue": "binance-spot"}
    cases: list[dict[str, Any]] = []

    def case(
        name: str,
        series: list[dict[str, str]],
        firing: list[dict[str, str]],
        also_silent: tuple[str, ...] = (),
    ) -> None:
        alert = alerts[name]
        checks = _checks(alert, settings, end, firing)
        for other in also_silent:  # alerts that must stay silent in this case
            checks.append({"eval_time": _at(end), "alertname": other, "exp_alerts": []})
        cases.append({"name": name, "interval": format_duration(STEP_S), "input_series": series,
                      "alert_rule_test": checks})  # fmt: skip

    # Feed down: the broken target stops answering scrapes; the target still exists, so nothing is absent.
    case(
        "TickstormFeedDown",
        [_series(n.UP, good, b.gauge(1)), _series(n.UP, bad, b.gauge(1, 0))],
        [bad],
        also_silent=("TickstormFeedMetricsAbsent",),
    )

    # Latency: every event in a bucket below half the threshold, then (broken) in the bucket above it.
    case(
        "TickstormFeedLatencyHigh",
        _latency_series(b, settings, good_v, broken=False)
        + _latency_series(b, settings, calm_v, broken=False)
        + _latency_series(b, settings, bad_v, broken=True),
        [bad_v],
    )

    # One stream of the broken target goes stale; its other stream and the healthy target stay fresh.
    def stream(labels: dict[str, str], name: str) -> dict[str, str]:
        return {**labels, "symbol": "BTCUSDT", "stream": f"btcusdt@{name}"}

    case(
        "TickstormFeedStreamStale",
        [
            _series(n.STREAM_STALE, stream(good_v, "bookTicker"), b.gauge(0)),
            _series(n.STREAM_STALE, stream(calm_v, "bookTicker"), b.gauge(0)),
            _series(n.STREAM_STALE, stream(bad_v, "bookTicker"), b.gauge(0, 1)),
            _series(n.STREAM_STALE, stream(bad_v, "trade"), b.gauge(0)),
        ],
        [stream(bad_v, "bookTicker")],
    )

    # Counters: healthy targets grow at half the threshold per window, the broken one at 5x.
    window_steps = parse_duration(settings.count_window) / STEP_S

    Relabel = Callable[[dict[str, str]], dict[str, str]]

    def counting(name: str, metric: str, threshold: float, labels: Relabel) -> None:
        healthy = threshold / 2 / window_steps
        broken = threshold * 5 / window_steps
        case(
            name,
            [
                _series(metric, labels(good_v), b.counter(healthy)),
                _series(metric, labels(calm_v), b.counter(healthy)),
                _series(metric, labels(bad_v), b.counter(healthy, broken)),
            ],
            [labels(bad_v)],
        )

    counting("TickstormFeedReconnectsFrequent", n.RECONNECTS, settings.reconnects, lambda t: t)
    counting("TickstormFeedGapsFrequent", n.GAPS, settings.gaps, lambda t: {**t, "stream_kind": "trade"})
    counting("TickstormFeedResyncsFrequent", n.RESYNCS, settings.resyncs, lambda t: t)
    counting("TickstormFeedDeadLettersGrowing", n.DLQ, settings.dlq_growth, lambda t: t)

    # Buffers: half the alert's fill while healthy; the broken target's subscriber buffer fills up.
    capacity = 1000.0
    half = capacity * settings.buffer_fill / 2

    def buf(labels: dict[str, str], kind: str) -> dict[str, str]:
        return {**labels, "buffer": kind}

    case(
        "TickstormFeedBufferNearFull",
        [
            _series(n.BUFFER_DEPTH, buf(good, "subscriber"), b.gauge(half)),
            _series(n.BUFFER_CAPACITY, buf(good, "subscriber"), b.gauge(capacity)),
            _series(n.BUFFER_DEPTH, buf(bad, "subscriber"), b.gauge(half, capacity)),
            _series(n.BUFFER_CAPACITY, buf(bad, "subscriber"), b.gauge(capacity)),
            _series(n.BUFFER_DEPTH, buf(bad, "book_diffs"), b.gauge(0)),
            _series(n.BUFFER_CAPACITY, buf(bad, "book_diffs"), b.gauge(capacity)),
        ],
        [buf(bad, "subscriber")],
    )

    # Absent: only another job's targets exist; the alert waits absent_for, then fires with the job label.
    absent = alerts["TickstormFeedMetricsAbsent"]
    hold = _steps(absent.for_)
    cases.append(
        {
            "name": absent.name,
            "interval": format_duration(STEP_S),
            "input_series": [_series(n.UP, {"job": "node", "instance": "other:9100"}, b.gauge(1))],
            "alert_rule_test": [
                {"eval_time": _at(hold - 1), "alertname": absent.name, "exp_alerts": []},
                {
                    "eval_time": _at(hold + 1),
                    "alertname": absent.name,
                    "exp_alerts": [_expected(absent, settings, {"job": n.JOB})],
                },
            ],
        }
    )
    missing = set(alerts) - {c["name"] for c in cases}
    if missing:
        raise AssertionError(f"alerts without a promtool test: {sorted(missing)}")
    return {
        "rule_files": [rule_file],
        "evaluation_interval": format_duration(STEP_S),
        "tests": cases,
    }
