"""A deterministic synthetic "tickstorm.report/1" dict for the HTML report tests.

Two scenarios: `steady_state` passes; `ws_latency_spike` fails, with a ~50 ms latency spike while the
fault "ws:latency_downstream" is active (2.0 s to 4.0 s). Memory is sampled for feed, venue and proxy,
and the comparison block has exactly one regression.
"""

from __future__ import annotations

import copy
import math
from typing import Any

SPIKE_FAULT = "ws:latency_downstream"
HOSTILE_NAME = "<script>alert(1)</script>"


def _intervals(n: int, spike: tuple[float, float] | None, gap_at: int | None = None) -> dict[str, Any]:
    """Per-interval series of length n; latency spikes inside the `spike` window; None at `gap_at`."""
    t_s = [0.5 * i for i in range(n)]
    p50: list[float | None] = []
    p99: list[float | None] = []
    p999: list[float | None] = []
    mx: list[float | None] = []
    delivered = []
    for i, t in enumerate(t_s):
        wobble = 0.15 * math.sin(i * 0.9)
        in_spike = spike is not None and spike[0] <= t < spike[1]
        base = 50.0 if in_spike else 1.2 + wobble
        if i == gap_at:
            p50.append(None)
            p99.append(None)
            p999.append(None)
            mx.append(None)
            delivered.append(0)
            continue
        p50.append(round(base, 3))
        p99.append(round(base * (1.1 if in_spike else 3.0), 3))
        p999.append(round(base * (1.25 if in_spike else 6.0), 3))
        mx.append(round(base * (1.4 if in_spike else 9.0), 3))
        delivered.append(2500 - (700 if in_spike else 0) + (i % 3) * 40)
    return {
        "interval_s": 0.5,
        "t_s": t_s,
        "delivered": delivered,
        "latency_ms": {"p50": p50, "p99": p99, "p999": p999, "max": mx},
        "rss_mb": {
            "feed": [round(82.0 + 0.4 * i, 2) for i in range(n)],
            "venue": [round(61.0 + 0.05 * (i % 4), 2) for i in range(n)],
            "proxy": [round(38.0 + 0.02 * i, 2) for i in range(n)],
        },
    }


def _latency(p50: float, p99: float, p999: float, mx: float, count: int) -> dict[str, Any]:
    overall = {"count": count, "p50_ms": p50, "p99_ms": p99, "p999_ms": p999, "max_ms": mx}
    return {
        "overall": overall,
        "by_stream_type": {
            "trade": {**overall, "count": count * 2 // 3},
            "depth": {**overall, "count": count // 3, "p99_ms": round(p99 * 1.2, 3)},
        },
        "spectrum": [
            [50.0, p50],
            [90.0, p50 * 2],
            [99.0, p99],
            [99.9, p999],
            [99.99, round((p999 + mx) / 2, 3)],
            [100.0, mx],
        ],
    }


def _figures(**overrides: Any) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "delivered": 59000,
        "latency_p50_ms": 1.21,
        "latency_p99_ms": 3.6,
        "latency_p999_ms": 7.3,
        "latency_max_ms": 10.9,
        "throughput_msg_s": 4950.0,
        "gaps_lost_ids": 0,
        "backfilled": 0,
        "resyncs": 0,
        "dlq": 0,
        "recovery_s": None,
        "rss_slope_mb_per_min": 0.8,
    }
    figures.update(overrides)
    return figures


def _steady() -> dict[str, Any]:
    return {
        "name": "steady_state",
        "path": "scenarios/steady_state.py",
        "description": "Replay at 20x with a bandwidth cap on the proxy for the last stretch.",
        "seed": 1,
        "mode": "processes",
        "proxy": "embedded",
        "ok": True,
        "error": None,
        "rerun": "tickstorm run scenarios/steady_state.py --seed 1",
        "speed": 20.0,
        "duration_s": 12.0,
        "figures": _figures(),
        "verdicts": [
            {"check": "latency_sla", "ok": True, "summary": "p99 3.6 ms <= 25 ms", "evidence": {}},
            {"check": "no_gaps", "ok": True, "summary": "0 lost ids", "evidence": {"lost": 0}},
        ],
        "faults": [{"name": "proxy:bandwidth", "start_s": 9.0, "end_s": None}],
        "events": [
            {"t_s": 0.1, "kind": "connection", "stream": "btcusdt@trade", "detail": "connected"},
            {"t_s": 0.2, "kind": "subscription", "stream": "btcusdt@depth", "detail": "subscribed"},
            {"t_s": 9.4, "kind": "stale", "stream": "ethusdt@depth", "detail": "no update for 1.2 s"},
            {"t_s": 9.9, "kind": "fresh", "stream": "ethusdt@depth", "detail": "updates resumed"},
        ],
        "intervals": _intervals(24, None, gap_at=17),
        "latency": _latency(1.21, 3.6, 7.3, 10.9, 59000),
    }


def _spike() -> dict[str, Any]:
    return {
        "name": "ws_latency_spike",
        "path": "scenarios/ws_latency_spike.py",
        "description": "Adds 50 ms of downstream latency on the venue WebSocket, then a disconnect.",
        "seed": 1,
        "mode": "processes",
        "proxy": "embedded",
        "ok": False,
        "error": None,
        "rerun": "tickstorm run scenarios/ws_latency_spike.py --seed 1",
        "speed": 20.0,
        "duration_s": 8.0,
        "figures": _figures(
            delivered=36000,
            latency_p50_ms=1.3,
            latency_p99_ms=55.0,
            latency_p999_ms=62.5,
            latency_max_ms=70.0,
            throughput_msg_s=4500.0,
            gaps_lost_ids=12,
            backfilled=12,
            resyncs=1,
            dlq=2,
            recovery_s=0.84,
            rss_slope_mb_per_min=4.1,
        ),
        "verdicts": [
            {
                "check": "latency_sla",
                "ok": False,
                "summary": "p99 55.0 ms > 25 ms during ws:latency_downstream",
                "evidence": {
                    "limit_ms": 25.0,
                    "p99_ms": 55.0,
                    "worst_interval": {"t_s": 2.5, "p99_ms": 55.0},
                },
            },
            {"check": "no_gaps", "ok": True, "summary": "12 lost ids, all backfilled", "evidence": {}},
            {
                "check": "dlq_empty",
                "ok": False,
                "summary": "2 messages in the dead-letter queue",
                "evidence": {"dlq": [{"stream": "btcusdt@depth", "reason": "decode error"}] * 2},
            },
        ],
        "faults": [
            {"name": SPIKE_FAULT, "start_s": 2.0, "end_s": 4.0},
            {"name": "ws:disconnect", "start_s": 5.5, "end_s": 5.7},
        ],
        "events": [
            {"t_s": 0.1, "kind": "connection", "stream": "btcusdt@trade", "detail": "connected"},
            {"t_s": 5.55, "kind": "connection", "stream": "btcusdt@trade", "detail": "closed 1006"},
            {"t_s": 5.6, "kind": "gap", "stream": "btcusdt@depth", "detail": "ids 1001-1012 missing"},
            {"t_s": 5.6, "kind": "book_invalid", "stream": "btcusdt@depth", "detail": "sequence gap"},
            {"t_s": 5.9, "kind": "connection", "stream": "btcusdt@trade", "detail": "reconnected"},
            {"t_s": 6.3, "kind": "book_resynced", "stream": "btcusdt@depth", "detail": "snapshot 1013"},
            {"t_s": 6.4, "kind": "dlq", "stream": "btcusdt@depth", "detail": "decode error"},
            {"t_s": 6.5, "kind": "restart", "stream": "feed", "detail": "worker restarted"},
        ],
        "intervals": _intervals(16, (2.0, 4.0)),
        "latency": _latency(1.3, 55.0, 62.5, 70.0, 36000),
    }


def build_sample_report() -> dict[str, Any]:
    """The full sample report: one passing and one failing scenario, with a comparison block."""
    return {
        "format": "tickstorm.report/1",
        "created_unix": 1764120000.0,
        "tickstorm_version": "0.1.0",
        "machine": {
            "cpu_model": "Example CPU @ 3.0GHz",
            "cores": 2,
            "memory_gib": 7.8,
            "os": "Linux 6.1 (Debian 12)",
            "python": "3.11.7",
            "libraries": {"websockets": "14.1", "aiohttp": "3.11.0", "picows": "1.6.0"},
        },
        "seed": 1,
        "mode": "processes",
        "proxy": "embedded",
        "ok": False,
        "sla_file": "harness/sla.toml",
        "scenarios": [_steady(), _spike()],
        "comparison": {
            "baseline": "reports/baselines/bench-feed.json",
            "rows": [
                {
                    "figure": "steady_state latency_p99_ms",
                    "baseline": 3.5,
                    "run": 3.6,
                    "ratio_kind": "ratio to ceiling",
                    "change_pct": 2.9,
                    "regressed": False,
                },
                {
                    "figure": "ws_latency_spike recovery_s",
                    "baseline": 0.4,
                    "run": 0.84,
                    "ratio_kind": "absolute",
                    "change_pct": 110.0,
                    "regressed": True,
                },
            ],
        },
    }


def build_hostile_report() -> dict[str, Any]:
    """The sample with attacker-controlled text in names, evidence, faults and events."""
    report = build_sample_report()
    spike = report["scenarios"][1]
    spike["name"] = HOSTILE_NAME
    spike["rerun"] = "tickstorm run '<img src=x onerror=alert(2)>'"
    spike["verdicts"][0]["evidence"] = {"note": "</pre><script>alert(3)</script>"}
    spike["verdicts"][0]["summary"] = "<b onmouseover=alert(4)>x</b>"
    spike["faults"][0]["name"] = '"><svg onload=alert(5)>'
    spike["events"][0]["detail"] = "</title><script>alert(6)</script>"
    report["machine"]["cpu_model"] = "<iframe src=//evil>"
    return report


def build_minimal_report() -> dict[str, Any]:
    """A report with every optional part missing or null."""
    bare = {
        "name": "bare",
        "ok": False,
        "error": "stack failed to start",
        "figures": {"delivered": 0, "latency_p50_ms": None, "throughput_msg_s": None},
        "latency": {"overall": None, "spectrum": None},
        "intervals": None,
    }
    in_process = copy.deepcopy(bare)
    in_process.update(
        name="in_process",
        ok=True,
        error=None,
        faults=[{"name": "ws:drop", "start_s": 1.0, "end_s": None}],
        events=[{"t_s": 1.5, "kind": "gap", "stream": "s", "detail": None}],
        intervals={
            "interval_s": 1.0,
            "t_s": [0.0, 1.0, 2.0],
            "delivered": [10, 0, 12],
            "latency_ms": {"p50": [None, None, None]},
            "rss_mb": {},
        },
        latency={"overall": {"count": 0, "p50_ms": None}, "spectrum": []},
    )
    return {"format": "tickstorm.report/1", "ok": False, "scenarios": [bare, in_process], "comparison": None}
