"""One feed process on two venues; one of them is unreachable for 2 s. The other must not notice: no gap,
no stale stream, no book loss, no reconnect, and data flowing all through the outage (the isolation
check), while the faulted one recovers, backfills and resyncs as usual."""

from harness.scenario import Scenario, VenueSpec, at, proxy_down, proxy_up

SCENARIO = Scenario(
    name="two venues, one down",
    description="one feed, two Binance spot venues (spot-a, spot-b); spot-b's proxies disabled for 2 s",
    speed=20.0,
    duration_s=6.0,
    venues=[VenueSpec(name="spot-a"), VenueSpec(name="spot-b")],
    timeline=[
        at(1.0, proxy_down("ws", venue="spot-b")),
        at(1.0, proxy_down("rest", venue="spot-b")),
        at(3.0, proxy_up("rest", venue="spot-b")),
        at(3.0, proxy_up("ws", venue="spot-b")),
    ],
)
