"""Venue-side message faults: dropped, duplicated and reordered diffs and trades, malformed frames."""

from harness.scenario import Scenario, at, venue_fault

SCENARIO = Scenario(
    name="venue message faults",
    description="drop/duplicate/reorder depth and trades, corrupt two aggTrades",
    speed=20.0,
    duration_s=5.0,
    expect_dlq=True,
    timeline=[
        at(1.0, venue_fault("drop", "btcusdt@depth@100ms", count=1)),
        at(1.5, venue_fault("duplicate", "btcusdt@trade", count=3)),
        at(2.0, venue_fault("reorder", "btcusdt@trade", count=2)),
        at(2.5, venue_fault("corrupt", "btcusdt@aggTrade", count=2)),
        at(3.0, venue_fault("drop", "btcusdt@trade", count=2)),
    ],
)
