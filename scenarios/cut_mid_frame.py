"""The connection is cut after a byte budget, in the middle of a frame (limit_data)."""

from harness.scenario import Scenario, at, clear, toxic

SCENARIO = Scenario(
    name="cut mid-frame",
    description="limit_data 30,001 bytes on the stream connection, then healed",
    speed=20.0,
    duration_s=5.0,
    timeline=[
        at(1.0, toxic("ws", "limit_data", bytes=30001)),
        at(2.5, clear("ws")),
    ],
)
