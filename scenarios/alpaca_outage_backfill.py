"""Alpaca unreachable for 1.5 s (WebSocket and REST proxies disabled; REST back first). Alpaca has no
sequence numbers: after the reconnect the feed fetches each trade stream's outage window (by exchange time)
from the historical REST API and delivers what it missed as backfilled, so trades need no gap; quotes have
no REST window in the recovery path and must be reported as gaps by time, each exact (no delivered quote
inside its window). The delivery check joins the trades on the venue's keys (per-exchange ids)."""

from harness.scenario import Expect, Scenario, VenueSpec, at, proxy_down, proxy_up

SCENARIO = Scenario(
    name="alpaca outage with REST backfill",
    description="Alpaca WebSocket and REST proxies disabled for 1.5 s; trades backfilled by time window",
    speed=20.0,
    duration_s=6.0,
    venues=[
        VenueSpec(
            venue="alpaca",
            symbols=["IBM", "BAC", "BTC/USD"],
            streams=["trades", "quotes"],
            feed={"api_key": "mock-key", "api_secret": "mock-secret"},
        )
    ],
    timeline=[
        at(2.0, proxy_down("ws")),
        at(2.0, proxy_down("rest")),
        at(3.0, proxy_up("rest")),  # REST first (even with the timeline's jitter): the backfill needs it
        at(3.5, proxy_up("ws")),
    ],
    expect=[
        Expect("trades backfilled over REST", channel="trade", backfilled=True, at_least=1),
        Expect("no gap on trades", type="gap", stream="trades.", at_most=0, at_least=0),
        Expect("quotes reported as gaps by time", type="gap", stream="quotes.", at_least=1),
    ],
)
