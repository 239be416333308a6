"""Alpaca 406 "connection limit exceeded": the venue drops every connection while something else holds the
account's slot, so the next two logins are refused with 406 (the socket stays open, as Alpaca's). The feed
must read 406 as transient (the previous session is still held), close, back off and log in again, and then
deliver every trade: those published while it was logged out come from the REST backfill, nothing is lost
unreported."""

from harness.scenario import Expect, Scenario, VenueSpec, at, venue_call, venue_fault, venue_heal

SCENARIO = Scenario(
    name="alpaca 406 held connection",
    description="Alpaca: two logins refused with 406 (slot held elsewhere) after a server-side close",
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
        at(2.0, venue_fault("connection_limit", count=2)),
        at(2.1, venue_call("close", lambda venue: venue.close_connections(1011, "restart"), fault=False)),
        at(4.0, venue_heal()),
    ],
    expect=[
        Expect("logins refused with 406", type="connection", detail={"state": "login_failed", "code": 406}),
        Expect("logged in again", type="connection", detail={"state": "connected"}, at_least=3),
    ],
)
