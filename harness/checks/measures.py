"""Measured checks: latency from the venue's intended send time, recovery time, DLQ, venue limits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.checks.verdict import Verdict


def check_latency(
    samples_ns: Iterable[int], *, p99_ms: float, name: str = "latency from intended send time"
) -> Verdict:
    """p50/p99/max of latencies (ns); ok when p99 is within ``p99_ms``."""
    hist = HdrHistogram(1, 600_000_000_000, 3)
    count = 0
    for value in samples_ns:
        hist.record_value(max(int(value), 1))
        count += 1
    if not count:
        return Verdict(name, False, "no latency samples", {})
    figures = {
        "samples": count,
        "p50_ms": round(hist.get_value_at_percentile(50) / 1e6, 3),
        "p99_ms": round(hist.get_value_at_percentile(99) / 1e6, 3),
        "max_ms": round(hist.get_max_value() / 1e6, 3),
        "sla_p99_ms": p99_ms,
    }
    ok = figures["p99_ms"] <= p99_ms
    return Verdict(name, ok, f"p99 {figures['p99_ms']} ms (SLA {p99_ms} ms)", figures)


def check_recovery(
    fault_end_ns: int, resumed_ns: int | None, *, bound_s: float, what: str = "data flowing again"
) -> Verdict:
    """Time from a fault's end to ``what``; ok within ``bound_s``."""
    if resumed_ns is None:
        return Verdict(
            f"recovery: {what}", False, f"never recovered after the fault ended (bound {bound_s} s)", {}
        )
    seconds = max(resumed_ns - fault_end_ns, 0) / 1e9
    return Verdict(
        f"recovery: {what}",
        seconds <= bound_s,
        f"{seconds:.3f} s after the fault ended (bound {bound_s} s)",
        {"recovery_s": round(seconds, 3), "bound_s": bound_s},
    )


def check_dlq(corrupted: dict[str, int], dead_letters: Sequence[tuple[str | None, bytes]]) -> Verdict:
    """The DLQ holds exactly the frames the venue corrupted (count per stream)."""
    got: dict[str, int] = {}
    for stream, _raw in dead_letters:
        got[stream or "?"] = got.get(stream or "?", 0) + 1
    ok = got == {s: n for s, n in corrupted.items() if n}
    return Verdict(
        "DLQ holds exactly the corrupted frames",
        ok,
        f"venue corrupted {sum(corrupted.values())}, DLQ holds {len(dead_letters)}",
        {"corrupted_by_stream": corrupted, "dlq_by_stream": got},
    )


def check_venue_limits(
    events: Sequence[Any], *, attempts_per_5min: int = 300, weight_per_minute: int = 6000
) -> Verdict:
    """Connection attempts and REST weight stayed inside the venue's limits; nothing refused or banned."""
    connects = sorted(e.time_ns for e in events if e.event == "connect")
    refused = [e for e in events if e.event == "connection_refused"]
    rest = sorted(
        (e.time_ns, e.detail.get("weight", 0), e.detail.get("status")) for e in events if e.event == "rest"
    )
    worst_attempts = _max_in_window(connects, 300 * 10**9, [1] * len(connects))
    worst_weight = _max_in_window([t for t, _, _ in rest], 60 * 10**9, [w for _, w, _ in rest])
    banned = [s for _, w, s in rest if s == 418 and w]
    ok = (
        not refused
        and not banned
        and worst_attempts <= attempts_per_5min
        and worst_weight <= weight_per_minute
    )
    return Verdict(
        "within venue limits",
        ok,
        f"max {worst_attempts} connection attempts / 5 min, max {worst_weight} REST weight / min",
        {"connection_attempts": len(connects), "refused": len(refused), "max_weight_per_min": worst_weight},
    )


def _max_in_window(times: list[int], window: int, weights: list[int]) -> int:
    best = total = start = 0
    for end, t in enumerate(times):
        total += weights[end]
        while t - times[start] >= window:
            total -= weights[start]
            start += 1
        best = max(best, total)
    return best
