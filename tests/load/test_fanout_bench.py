"""The fan-out benchmark runs end to end (subscribers in their own process) and counts every event."""

from __future__ import annotations

import uvloop

from benchmarks.bench_fanout import _measure


def test_fanout_benchmark_delivers_every_event_and_reports_both_paths() -> None:
    result = uvloop.run(_measure(20, 20, pause_s=0.002))
    assert result["subscribers"] == 20 and result["every_event_received"] is True
    assert result["hub_us_per_subscriber"]["median"] > 0
    assert result["bare_write_us_per_subscriber"]["median"] > 0
    assert result["flush_ms"]["max"] >= result["flush_ms"]["median"]
