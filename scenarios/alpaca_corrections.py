"""Alpaca trade corrections and cancels in a burst: the venue corrects three of IBM's published trades and
cancels one (with an updated bar), twice. Each must reach the consumer as its own `correction` event, joined
on the venue's key (the corrected id per exchange), while the trades they refer to stay as delivered:
nothing is rewritten, no trade is delivered twice, every published trade is still accounted for."""

from harness.scenario import Expect, Scenario, VenueSpec, at, venue_fault

SCENARIO = Scenario(
    name="alpaca correction burst",
    description="Alpaca: 2 x (3 corrections + 1 cancel) of IBM's trades",
    speed=20.0,
    duration_s=6.0,
    venues=[
        VenueSpec(
            venue="alpaca",
            symbols=["IBM", "BAC"],
            streams=["trades", "quotes"],
            feed={"api_key": "mock-key", "api_secret": "mock-secret"},
        )
    ],
    timeline=[
        at(3.5, venue_fault("corrections", symbol="IBM", count=3, cancels=1)),
        at(4.5, venue_fault("corrections", symbol="IBM", count=3, cancels=1)),
    ],
    expect=[
        Expect("corrections delivered", channel="correction", stream="corrections.IBM", at_least=6),
        Expect("cancels delivered", channel="correction", stream="cancelErrors.IBM", at_least=2),
        Expect("no gap", type="gap", at_least=0, at_most=0),
    ],
)
