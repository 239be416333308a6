"""A sequence gap forces a resync while REST answers 429 and then slowly: the book still ends exact."""

from harness.scenario import Scenario, at, venue_call
from mock_venues.base.rest_faults import RestFaults

SCENARIO = Scenario(
    name="gap, resync under REST 429 and a slow snapshot",
    description="depth ids jump by 7; the first snapshot request gets 429 (Retry-After 1), the next is slow",
    speed=20.0,
    duration_s=6.0,
    timeline=[
        at(1.0, venue_call("rest 429", lambda v: v.set_rest_fault(
            RestFaults(status=429, count=1, retry_after_s=1, paths=frozenset({"/api/v3/depth"}))))),
        at(1.2, venue_call("gap", lambda v: v.insert_gap("BTCUSDT", 7))),
        at(2.0, venue_call("slow snapshot", lambda v: v.set_rest_fault(
            RestFaults(delay_s=1.0, count=1, paths=frozenset({"/api/v3/depth"}))))),
    ],
)  # fmt: skip
