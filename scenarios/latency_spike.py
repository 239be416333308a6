"""Latency and jitter spike on the stream connection: nothing lost, order kept, data flowing after."""

from harness.scenario import Scenario, at, clear, toxic

SCENARIO = Scenario(
    name="latency spike",
    description="+300 ms +-100 ms jitter downstream for 2 s",
    speed=20.0,
    duration_s=5.0,
    timeline=[
        at(1.0, toxic("ws", "latency", latency=300, jitter=100)),
        at(3.0, clear("ws")),
    ],
)
