"""A bandwidth throttle during a x50 burst: the feed falls behind, catches up, loses nothing."""

from harness.scenario import Scenario, at, clear, toxic

SCENARIO = Scenario(
    name="bandwidth throttle under a burst",
    description="64 KB/s downstream for 2 s while replaying at x50",
    speed=50.0,
    duration_s=5.0,
    timeline=[
        at(1.0, toxic("ws", "bandwidth", rate=64)),
        at(3.0, clear("ws")),
    ],
)
