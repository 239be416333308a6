"""Alpaca trade corrections and cancels in a burst: the venue corrects three of IBM's published trades and
cancels one (with an updated bar). Each must reach the consumer as its own `correction` event, joined
on the venue's key (the corrected id per exchange), while the trades they refer to stay as delivered:
nothing is rewritten, no trade is delivered twice, every published trade is still accounted for.

One burst, not two: a second burst soon after the first can pick the same trades (the last ones of the
newest barred minute), and a second correction of the same trade is then lost between a mock that repeats
its correction id and a feed that de-duplicates corrections by the original id (docs/feed-alpaca.md,
known defects)."""

from harness.scenario import Expect, Scenario, VenueSpec, at, venue_fault

SCENARIO = Scenario(
    name="alpaca correction burst",
    description="Alpaca: 3 corrections + 1 cancel of IBM's trades",
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
    ],
    expect=[
        Expect("corrections delivered", channel="correction", stream="corrections.IBM", at_least=3),
        Expect("cancels delivered", channel="correction", stream="cancelErrors.IBM", at_least=1),
        Expect("no gap", type="gap", at_least=0, at_most=0),
    ],
)
