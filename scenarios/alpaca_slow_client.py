"""Alpaca 407 "slow client" under a burst: the tape is replayed at 40x with every message amplified, and the
venue declares the feed a slow client (407, then close 1008) in the middle of it. The feed must reconnect,
fetch the trades it missed over REST and report the unprovable quote windows as gaps by time: nothing lost
unreported, nothing delivered twice."""

from harness.scenario import Expect, Scenario, VenueSpec, at, venue_fault, venue_heal

SCENARIO = Scenario(
    name="alpaca 407 slow client",
    description="Alpaca at 40x, amplified x2: 407 slow client mid-burst, reconnect and backfill",
    speed=40.0,
    duration_s=6.0,
    venues=[
        VenueSpec(
            venue="alpaca",
            symbols=["IBM", "BAC", "BTC/USD"],
            streams=["trades", "quotes"],
            options={"amplify": 2},
            feed={"api_key": "mock-key", "api_secret": "mock-secret"},
        )
    ],
    timeline=[
        at(2.5, venue_fault("slow_client")),
        at(4.0, venue_heal()),
    ],
    expect=[
        Expect("closed as a slow client", type="connection", detail={"state": "disconnected", "code": 1008}),
    ],
)
