"""A compressed hour: the bundled BTCUSDT capture looped for one recorded hour at x60 (60 s), with two short
outages. The feed process's resident memory must stay flat after warm-up (robust slope within the SLA
config's bound), and nothing may be lost or duplicated across loops. The first outage falls inside the
warm-up: recovering from an outage costs a one-time step of a few MB (REST snapshots, buffered diffs, the
allocator keeping the pages), which is not a leak; the second one must not add another. The nightly
version replays the same hour at x10 (scenarios/nightly/memory_soak_x10.py)."""

from harness.scenario import Scenario, at, proxy_down, proxy_up

SCENARIO = Scenario(
    name="memory soak",
    description="one recorded hour at x60 (looped capture), 2 s outages at 8 s and 38 s; RSS slope checked",
    recording="spot-btcusdt",
    speed=60.0,
    duration_s=60.0,
    venue={"loop": True},
    memory_check=True,
    timeline=[
        at(8.0, proxy_down("ws")),
        at(10.0, proxy_up("ws")),
        at(38.0, proxy_down("ws")),
        at(40.0, proxy_up("ws")),
    ],
)
