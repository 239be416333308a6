"""Alpaca in JSON (the feed option `encoding = "json"`: JSON text frames instead of msgpack) through a
connection reset: the venue's sockets are reset by the proxy and the feed must reconnect, log in and
subscribe again in JSON, backfill the trades and report the quote windows as gaps by time. With
`alpaca_msgpack.py` it proves both encodings recover alike."""

from harness.scenario import Expect, Scenario, VenueSpec, at, clear, toxic

SCENARIO = Scenario(
    name="alpaca JSON reset",
    description="Alpaca in JSON; every connection reset by the proxy for 1 s",
    speed=20.0,
    duration_s=6.0,
    venues=[
        VenueSpec(
            venue="alpaca",
            symbols=["IBM", "BAC", "BTC/USD"],
            streams=["trades", "quotes", "orderbooks"],
            feed={"api_key": "mock-key", "api_secret": "mock-secret", "encoding": "json"},
        )
    ],
    timeline=[
        at(2.5, toxic("ws", "reset_peer", timeout=0)),
        at(3.5, clear("ws")),
    ],
    expect=[
        Expect("trades delivered after the reset", channel="trade", stream="trades.IBM", at_least=10),
        Expect("no gap on trades", type="gap", stream="trades.", at_least=0, at_most=0),
    ],
)
