"""One stream of a combined connection goes silent: it is reported stale, then fresh; the others flow."""

from harness.scenario import Scenario, at, venue_fault

SCENARIO = Scenario(
    name="silent stream in a combined connection",
    description="bookTicker silenced for 2 s while trades and depth keep flowing",
    speed=20.0,
    duration_s=5.0,
    feed={"stale_floor_s": 0.3, "stale_factor": 5.0},
    timeline=[at(1.0, venue_fault("silence", "btcusdt@bookTicker", duration_s=2.0))],
)
