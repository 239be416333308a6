"""No faults: the feed delivers every id in order, books exact, latency within SLA."""

from harness.scenario import SLA, Scenario

SCENARIO = Scenario(
    name="baseline",
    description="BTCUSDT at x20 through the proxy with no faults",
    recording="spot-btcusdt",
    speed=20.0,
    duration_s=5.0,
    sla=SLA(latency_p99_ms=250.0),
)
