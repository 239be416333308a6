"""Nightly soak: one recorded hour at x10 (6 minutes), with an outage every 10 minutes of recorded time.
The feed process's RSS must stay flat after warm-up. Run with ``nox -s soak``."""

from harness.scenario import Scenario, at, proxy_down, proxy_up

SCENARIO = Scenario(
    name="memory soak x10 (nightly)",
    description="one recorded hour at x10 (looped capture), a 2 s outage every 60 s; RSS slope checked",
    recording="spot-btcusdt",
    speed=10.0,
    duration_s=360.0,
    venue={"loop": True},
    memory_check=True,
    timeline=[
        step
        for minute in range(1, 6)
        for step in (at(60.0 * minute, proxy_down("ws")), at(60.0 * minute + 2, proxy_up("ws")))
    ],
)
