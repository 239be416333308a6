"""The venue is unreachable for seconds (proxy disabled): reconnect with backoff, backfill, resync."""

from harness.scenario import Scenario, at, proxy_down, proxy_up

SCENARIO = Scenario(
    name="venue down",
    description="WebSocket and REST proxies disabled for 2 s",
    speed=20.0,
    duration_s=6.0,
    timeline=[
        at(1.0, proxy_down("ws")),
        at(1.0, proxy_down("rest")),
        at(3.0, proxy_up("rest")),
        at(3.0, proxy_up("ws")),
    ],
)
