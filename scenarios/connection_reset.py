"""The proxy resets the stream connection (TCP RST): the feed reconnects, backfills trades, resyncs books."""

from harness.scenario import Scenario, at, clear, toxic

SCENARIO = Scenario(
    name="connection reset",
    description="reset_peer on the stream connection for half a second",
    speed=20.0,
    duration_s=5.0,
    timeline=[
        at(1.5, toxic("ws", "reset_peer", timeout=0)),
        at(2.0, clear("ws")),
    ],
)
