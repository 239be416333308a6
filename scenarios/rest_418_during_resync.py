"""A gap forces a resync while REST bans the IP (418, Retry-After 2): the feed waits, then syncs exactly."""

from harness.scenario import Scenario, at, venue_call
from mock_venues.base.rest_faults import RestFaults

SCENARIO = Scenario(
    name="REST 418 during resync",
    description="depth jumps by 5 while /api/v3/depth answers 418 with Retry-After 2",
    speed=20.0,
    duration_s=6.0,
    streams=["trade", "depth@100ms"],
    timeline=[
        at(1.0, venue_call("rest 418", lambda v: v.set_rest_fault(
            RestFaults(status=418, count=1, retry_after_s=2, paths=frozenset({"/api/v3/depth"}))))),
        at(1.1, venue_call("gap", lambda v: v.insert_gap("BTCUSDT", 5))),
    ],
)  # fmt: skip
