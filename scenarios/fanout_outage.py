"""200 symbols (fan-out of 4 recorded ones) through a 2 s outage, without a reconnect storm."""

from harness.scenario import Scenario, at, proxy_down, proxy_up

BASE = ("nknusdt", "lrcbtc", "blzeth", "runeeur")

SCENARIO = Scenario(
    name="200 symbols through an outage",
    description="spot-4sym fanned out x50, depth + aggTrade, both proxies down for 2 s",
    recording="spot-4sym-2021",
    speed=5.0,
    fanout=50,
    symbols=[s if i == 0 else f"{s}f{i:03d}" for s in BASE for i in range(50)],
    streams=["depth@100ms", "aggTrade"],
    duration_s=7.0,
    feed={"snapshot_limit": 100},
    timeline=[
        at(2.0, proxy_down("ws")),
        at(2.0, proxy_down("rest")),
        at(4.0, proxy_up("rest")),
        at(4.0, proxy_up("ws")),
    ],
)
