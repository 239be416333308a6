"""Measurements of a run for reports: latency histograms (HdrHistogram, µs) overall, per stream type and per
interval, message rate and RSS per interval, the percentile spectrum and the feed's state events.

Latency is delivery time minus the venue's *intended* send time (a stalled sender or a stalled feed cannot
hide it). Per-interval figures group messages by their intended send time, so a fault window shaded at
time t shows what happened to the messages sent at t. Each histogram is also stored encoded
(HdrHistogram's compressed base64 form), so intervals, runs and processes can be merged later.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.evaluate import live_latencies
from harness.rundata import FaultWindow, RunData

HIGHEST_US = 600_000_000  # 10 minutes
SIGNIFICANT_DIGITS = 3
SPECTRUM = (50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0)
STATE_KINDS = ("connection", "gap", "book_invalid", "book_resynced", "stale", "fresh", "subscription")


def new_histogram() -> HdrHistogram:
    """A latency histogram in microseconds, 1 µs .. 10 min, 3 significant digits."""
    return HdrHistogram(1, HIGHEST_US, SIGNIFICANT_DIGITS)


def record_ns(hist: HdrHistogram, latency_ns: int) -> None:
    """Record one latency given in ns (clamped into the histogram's range)."""
    hist.record_value(min(max(latency_ns // 1000, 1), HIGHEST_US))


def summary(hist: HdrHistogram) -> dict[str, Any]:
    """count, p50/p99/p99.9/max in ms (None when empty)."""
    count = hist.get_total_count()
    if not count:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "p999_ms": None, "max_ms": None}
    return {
        "count": count,
        "p50_ms": hist.get_value_at_percentile(50) / 1000,
        "p99_ms": hist.get_value_at_percentile(99) / 1000,
        "p999_ms": hist.get_value_at_percentile(99.9) / 1000,
        "max_ms": hist.get_max_value() / 1000,
    }


def merge(encoded: Iterable[str]) -> HdrHistogram:
    """One histogram from encoded ones (intervals of a run, or runs of a suite)."""
    total = new_histogram()
    for item in encoded:
        total.add(HdrHistogram.decode(item.encode()))
    return total


def _get(event: Any, key: str) -> Any:
    return event.get(key) if isinstance(event, dict) else getattr(event, key)


def measure(
    run: RunData,
    faults: list[FaultWindow],
    *,
    interval_s: float = 1.0,
    rss_by_process: dict[str, list[tuple[int, int]]] | None = None,
) -> dict[str, Any]:
    """Everything a report charts for one run (see docs/report-format.md)."""
    t0 = run.t0_ns
    step = int(interval_s * 1e9)
    overall = new_histogram()
    by_type: dict[str, HdrHistogram] = {}
    by_interval: dict[int, HdrHistogram] = {}
    for sent_ns, latency_ns, kind, _venue in live_latencies(run):
        record_ns(overall, latency_ns)
        record_ns(by_type.setdefault(kind, new_histogram()), latency_ns)
        index = max((sent_ns - t0) // step, 0)
        record_ns(by_interval.setdefault(index, new_histogram()), latency_ns)
    delivered: dict[int, int] = {}
    lane: list[dict[str, Any]] = []
    for event in run.events:
        at = _get(event, "deliver_ns")
        kind = _get(event, "type")
        if kind in STATE_KINDS:
            lane.append(_lane_entry(event, (at - t0) / 1e9))
        elif at >= t0:
            index = (at - t0) // step
            delivered[index] = delivered.get(index, 0) + 1
    for at, letter_stream, reason in run.dead_letter_times:
        lane.append(
            {"t_s": round((at - t0) / 1e9, 3), "kind": "dlq", "stream": letter_stream or "", "detail": reason}
        )
    lane.sort(key=lambda entry: entry["t_s"])
    rss_by_process = rss_by_process or ({"feed": run.rss} if run.rss else {})
    last = max([*delivered, *by_interval, 0])
    for samples in rss_by_process.values():
        if samples:
            last = max(last, (samples[-1][0] - t0) // step)
    intervals: dict[str, Any] = {
        "interval_s": interval_s,
        "t_s": [round(i * interval_s, 3) for i in range(last + 1)],
        "delivered": [delivered.get(i, 0) for i in range(last + 1)],
        "latency_ms": {key: [] for key in ("p50", "p99", "p999", "max")},
        "latency_hdr": [],
        "rss_mb": {},
    }
    for i in range(last + 1):
        hist = by_interval.get(i)
        figures = summary(hist) if hist is not None else summary(new_histogram())
        for key, field in (("p50", "p50_ms"), ("p99", "p99_ms"), ("p999", "p999_ms"), ("max", "max_ms")):
            intervals["latency_ms"][key].append(figures[field])
        intervals["latency_hdr"].append(hist.encode().decode() if hist is not None else None)
    for process, samples in rss_by_process.items():
        series: list[float | None] = [None] * (last + 1)
        for at, rss in samples:
            index = (at - t0) // step
            if 0 <= index <= last:
                series[index] = round(rss / 2**20, 1)
        intervals["rss_mb"][process] = series
    duration_s = max((last + 1) * interval_s, interval_s)
    return {
        "latency": {
            "overall": summary(overall),
            "by_stream_type": {kind: summary(h) for kind, h in sorted(by_type.items())},
            "spectrum": _spectrum(overall),
            "hdr": overall.encode().decode() if overall.get_total_count() else None,
        },
        "throughput_msg_s": round(sum(delivered.values()) / duration_s, 1),
        "intervals": intervals,
        "events": lane,
        "faults": [
            {
                "name": f.name,
                "start_s": round((f.start_ns - t0) / 1e9, 3),
                "end_s": round((f.end_ns - t0) / 1e9, 3) if f.end_ns is not None else None,
            }
            for f in faults
        ],
    }


def _spectrum(hist: HdrHistogram) -> list[list[float]]:
    if not hist.get_total_count():
        return []
    out = []
    for pct in SPECTRUM:
        value = hist.get_max_value() if pct >= 100 else hist.get_value_at_percentile(pct)
        out.append([pct, value / 1000])
    return out


def _lane_entry(event: Any, t_s: float) -> dict[str, Any]:
    detail = _get(event, "detail") or {}
    text = ", ".join(f"{k}={v}" for k, v in detail.items()) if isinstance(detail, dict) else str(detail)
    kind = _get(event, "type")
    if kind == "gap":
        text = f"ids {_get(event, 'first_id')}..{_get(event, 'id')}; {text}"
    return {
        "t_s": round(t_s, 3),
        "kind": kind,
        "venue": _get(event, "venue") or "",
        "stream": _get(event, "stream") or "",
        "detail": text[:300],
    }


def latencies_from_actual_send(run: RunData) -> list[tuple[int, int]]:
    """(intended send ns, delivery minus *actual* send ns) of live market events: the measurement that
    coordinated omission fools. A stalled sender sends late, and measured from its late send the message
    looks fast; this exists to show that difference, reports use :func:`live_latencies`."""
    actual: dict[tuple[str, str, int], int] = {}
    intended: dict[tuple[str, str, int], int] = {}
    for venue in run.venues.values():
        for row in venue.history.rows():
            actual.setdefault((venue.name, row.stream, row.venue_id), row.actual_ns)
        for row in venue.timeline.rows():
            intended.setdefault((venue.name, row.stream, row.venue_id), row.intended_ns)
    out = []
    for event in run.events:
        ident = _get(event, "id")
        if _get(event, "type") == "market" and ident is not None and not _get(event, "backfilled"):
            name, stream = _get(event, "venue"), _get(event, "stream")
            found = run.venues.get(name)
            key = (name, (found.replay_of.get(stream) if found is not None else None) or stream, ident)
            sent = actual.get((name, stream, ident), actual.get(key))  # sends are logged by client stream
            if sent is not None and key in intended:
                out.append((intended[key], _get(event, "deliver_ns") - sent))
    return out
