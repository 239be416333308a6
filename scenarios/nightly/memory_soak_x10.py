"""Nightly soak: one recorded hour at x10 (6 minutes), with an outage every 10 minutes of recorded time.
The feed process's RSS must stay flat after warm-up. Run with ``nox -s soak``."""

from harness.scenario import Scenario, at, proxy_down, proxy_up

SCENARIO = Scenario(
    name="memory soak x10 (nightly)",
    description="one recorded hour at x10 (looped capture), a 2 s outage at 8 s and every 60 s; RSS checked",
    recording="spot-btcusdt",
    speed=10.0,
    duration_s=360.0,
    venue={"loop": True},
    memory_check=True,
    timeline=[  # the first outage falls inside the warm-up (its one-time memory step is not a leak)
        step
        for start in (8.0, 60.0, 120.0, 180.0, 240.0, 300.0)
        for step in (at(start, proxy_down("ws")), at(start + 2, proxy_up("ws")))
    ],
)
