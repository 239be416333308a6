"""The venue refuses the feed's subscription once: reported, retried, accepted, nothing lost after."""

from harness.scenario import Scenario, at, proxy_down, proxy_up, venue_fault

SCENARIO = Scenario(
    name="subscription refused",
    description="after a forced reconnect the venue refuses the first SUBSCRIBE",
    speed=20.0,
    duration_s=6.0,
    timeline=[
        at(1.0, venue_fault("refuse_subscribe", "btcusdt@trade", count=1)),
        at(1.0, proxy_down("ws")),
        at(1.5, proxy_up("ws")),
    ],
)
