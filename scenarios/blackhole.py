"""Blackhole: connected but silent (timeout toxic). The feed's dead-peer ping notices, reconnects, heals."""

from harness.scenario import Scenario, at, clear, toxic

SCENARIO = Scenario(
    name="blackhole",
    description="timeout toxic (data discarded, connection kept) for 3 s; idle timeout 1 s",
    speed=20.0,
    duration_s=6.0,
    feed={"idle_timeout_s": 1.0},
    timeline=[
        at(1.0, toxic("ws", "timeout", timeout=0)),
        at(4.0, clear("ws")),
    ],
)
