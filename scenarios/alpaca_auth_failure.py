"""Alpaca 402 "auth failed" on reconnect: after a server-side close the next three logins are refused and
closed by the venue. The feed must treat 402 as transient here (retry with backoff, never give up), log in
again, resubscribe and recover the trades published while it was out (REST backfill by time window)."""

from harness.scenario import Expect, Scenario, VenueSpec, at, venue_call, venue_fault, venue_heal

SCENARIO = Scenario(
    name="alpaca auth failure",
    description="Alpaca: three logins refused with 402 after a server-side close; retried with backoff",
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
        at(2.0, venue_fault("auth_failure", count=3)),
        at(2.1, venue_call("close", lambda venue: venue.close_connections(1011, "restart"), fault=False)),
        at(4.0, venue_heal()),
    ],
    expect=[
        Expect("logins refused with 402", type="connection", detail={"state": "login_failed", "code": 402}),
        Expect("never given up", type="connection", detail={"fatal": True}, at_least=0, at_most=0),
    ],
)
