"""Frames cut into small TCP segments (slicer): the WebSocket client reassembles, nothing changes."""

from harness.scenario import Scenario, at, clear, toxic

SCENARIO = Scenario(
    name="fragmented frames",
    description="slicer: ~64-byte segments, 20 us apart, for 2 s",
    speed=10.0,
    duration_s=4.0,
    timeline=[
        at(1.0, toxic("ws", "slicer", average_size=64, size_variation=32, delay=20)),
        at(3.0, clear("ws")),
    ],
)
