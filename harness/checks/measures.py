"""Measured checks: latency from the venue's intended send time, recovery time, DLQ, venue limits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.checks.verdict import Verdict


def check_latency(
    samples_ns: Iterable[int],
    *,
    p99_ms: float | None,
    p50_ms: float | None = None,
    p999_ms: float | None = None,
    name: str = "latency from intended send time",
) -> Verdict:
    """Percentiles of latencies (ns) against their bounds (None: that percentile is not judged)."""
    figures = latency_figures(samples_ns)
    if not figures:
        return Verdict(name, False, "no latency samples", {})
    bounds = {"p50_ms": p50_ms, "p99_ms": p99_ms, "p999_ms": p999_ms}
    over = [f"{key[:-3]} {figures[key]} ms > {bound} ms" for key, bound in bounds.items() if bound is not None
            and figures[key] > bound]  # fmt: skip
    figures |= {f"sla_{key}": bound for key, bound in bounds.items() if bound is not None}
    shown = ", ".join(f"{k[:-3]} {figures[k]} ms (SLA {b})" for k, b in bounds.items() if b is not None)
    return Verdict(name, not over, "; ".join(over) if over else shown, figures)


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


def latency_figures(samples_ns: Iterable[int]) -> dict[str, Any]:
    """p50/p99/p99.9/max in ms of latency samples (ns), from an HdrHistogram (empty dict: no samples)."""
    hist = HdrHistogram(1, 600_000_000_000, 3)
    count = 0
    for value in samples_ns:
        hist.record_value(max(int(value), 1))
        count += 1
    if not count:
        return {}
    return {
        "samples": count,
        "p50_ms": round(hist.get_value_at_percentile(50) / 1e6, 3),
        "p99_ms": round(hist.get_value_at_percentile(99) / 1e6, 3),
        "p999_ms": round(hist.get_value_at_percentile(99.9) / 1e6, 3),
        "max_ms": round(hist.get_max_value() / 1e6, 3),
    }


def check_buffer(high_water: int, capacity: int, *, fraction: float) -> Verdict:
    """The most events any feed buffer held stayed within ``fraction`` of its capacity."""
    bound = fraction * capacity
    return Verdict(
        "buffer high-water mark",
        high_water <= bound,
        f"peak {high_water} buffered events, bound {bound:g} ({fraction:g} x capacity {capacity})",
        {"high_water": high_water, "capacity": capacity, "bound": bound},
    )


MIN_MEMORY_SAMPLES = 10


def theil_sen_slope(points: Sequence[tuple[float, float]], max_points: int = 400) -> float:
    """Median of pairwise slopes (robust to GC spikes and outliers); long series are thinned evenly."""
    if len(points) > max_points:
        step = len(points) / max_points
        points = [points[int(i * step)] for i in range(max_points)]
    slopes = sorted(
        (y2 - y1) / (x2 - x1) for i, (x1, y1) in enumerate(points) for x2, y2 in points[i + 1 :] if x2 != x1
    )
    if not slopes:
        return 0.0
    mid = len(slopes) // 2
    return slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2


def memory_figures(rss: Sequence[tuple[int, int]], *, t0_ns: int, warmup_s: float = 0.0) -> dict[str, Any]:
    """RSS at start/peak/end (MB) and the Theil-Sen slope (MB/min) of the samples after ``warmup_s``."""
    after = [((t - t0_ns) / 60e9, b / 2**20) for t, b in rss if (t - t0_ns) / 1e9 >= warmup_s]
    return {
        "rss_start_mb": round(rss[0][1] / 2**20, 1),
        "rss_peak_mb": round(max(b for _, b in rss) / 2**20, 1),
        "rss_end_mb": round(rss[-1][1] / 2**20, 1),
        "rss_slope_mb_per_min": round(theil_sen_slope(after), 3) if len(after) >= 2 else None,
        "rss_samples": len(rss),
    }


def check_memory(
    rss: Sequence[tuple[int, int]],
    *,
    t0_ns: int,
    warmup_s: float,
    slope_mb_per_min: float,
    max_mb: float,
) -> Verdict:
    """The feed's RSS grows no faster than ``slope_mb_per_min`` after warm-up and stays under ``max_mb``."""
    figures = memory_figures(rss, t0_ns=t0_ns, warmup_s=warmup_s)
    counted = sum(1 for t, _ in rss if (t - t0_ns) / 1e9 >= warmup_s)
    figures |= {"warmup_s": warmup_s, "bound_mb_per_min": slope_mb_per_min, "max_mb": max_mb}
    if counted < MIN_MEMORY_SAMPLES:
        return Verdict(
            "memory flat after warm-up",
            False,
            f"only {counted} RSS samples after the {warmup_s:g} s warm-up (need {MIN_MEMORY_SAMPLES})",
            figures,
        )
    slope = figures["rss_slope_mb_per_min"]
    ok = slope <= slope_mb_per_min and figures["rss_peak_mb"] <= max_mb
    return Verdict(
        "memory flat after warm-up",
        ok,
        f"RSS slope {slope:+.3f} MB/min (bound {slope_mb_per_min:g}), peak {figures['rss_peak_mb']} MB "
        f"(max {max_mb:g})",
        figures,
    )
