"""A x100 burst while the venue is unreachable: backfill and resync catch up after it comes back."""

from harness.scenario import Scenario, at, proxy_down, proxy_up, venue_call

SCENARIO = Scenario(
    name="x100 burst during an outage",
    description="proxies down for 2 s while the replay runs at x100, then back to x20",
    speed=20.0,
    duration_s=6.0,
    timeline=[
        at(1.0, proxy_down("ws")),
        at(1.0, venue_call("speed x100", lambda v: v.set_speed(100.0))),
        at(3.0, venue_call("speed x20", lambda v: v.set_speed(20.0), fault=False)),
        at(3.0, proxy_up("ws")),
    ],
)
