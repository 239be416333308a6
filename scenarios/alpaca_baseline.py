"""Alpaca, nothing broken: stocks IBM and BAC (trades, quotes) on the stock endpoint and crypto BTC/USD
(trades, quotes, order book) on the crypto endpoint, msgpack. Proves the harness runs the Alpaca venue and
adapter end to end: every published trade is delivered once and in the order published, joined on the
venue's keys (stock trade ids per exchange), and no gap is reported."""

from harness.scenario import Expect, Scenario, VenueSpec

SCENARIO = Scenario(
    name="alpaca baseline",
    description="Alpaca stocks IBM, BAC and crypto BTC/USD, no faults",
    speed=20.0,
    duration_s=6.0,
    venues=[
        VenueSpec(
            venue="alpaca",
            symbols=["IBM", "BAC", "BTC/USD"],
            streams=["trades", "quotes", "orderbooks"],
            feed={"api_key": "mock-key", "api_secret": "mock-secret"},  # the mock accepts any pair
        )
    ],
    expect=[
        Expect("stock trades delivered", channel="trade", stream="trades.IBM", at_least=10),
        Expect("crypto trades delivered", channel="trade", stream="trades.BTC/USD", at_least=10),
        Expect("no gap", type="gap", at_least=0, at_most=0),
    ],
)
