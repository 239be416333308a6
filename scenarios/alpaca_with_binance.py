"""One feed process on two venues of different kinds: Binance spot (BTCUSDT) and Alpaca (IBM, BAC, BTC/USD).
Alpaca is made unreachable for 1.5 s and later refuses a login with 402. Binance must not notice: no gap,
no stale stream, no book loss, no reconnect, and data flowing all through Alpaca's faults (the isolation
check), while Alpaca recovers and backfills its trades."""

from harness.scenario import (
    Expect,
    Scenario,
    VenueSpec,
    at,
    proxy_down,
    proxy_up,
    venue_call,
    venue_fault,
    venue_heal,
)

SCENARIO = Scenario(
    name="alpaca and binance, alpaca faulted",
    description="one feed on Binance spot and Alpaca; Alpaca down 1.5 s, later a login refused (402)",
    speed=20.0,
    duration_s=9.0,  # room for Alpaca's reconnects (backoff up to 2 s each) before the run ends
    venues=[
        VenueSpec(venue="binance-spot", name="binance"),
        VenueSpec(
            venue="alpaca",
            name="alpaca",
            symbols=["IBM", "BAC", "BTC/USD"],
            streams=["trades", "quotes"],
            feed={"api_key": "mock-key", "api_secret": "mock-secret"},
        ),
    ],
    timeline=[
        at(1.5, proxy_down("ws", venue="alpaca")),
        at(1.5, proxy_down("rest", venue="alpaca")),
        at(2.5, proxy_up("rest", venue="alpaca")),
        at(3.0, proxy_up("ws", venue="alpaca")),
        at(4.0, venue_fault("auth_failure", venue="alpaca", count=2)),
        at(
            4.1,
            venue_call("close", lambda v: v.close_connections(1011, "restart"), fault=False, venue="alpaca"),
        ),
        at(5.5, venue_heal(venue="alpaca")),
    ],
    expect=[
        Expect("Alpaca trades backfilled", venue="alpaca", channel="trade", backfilled=True),
        Expect("Alpaca logins refused", type="connection", venue="alpaca", detail={"code": 402}),
        Expect(
            "Binance never disconnected",
            type="connection",
            venue="binance",
            detail={"state": "disconnected"},
            at_least=0,
            at_most=0,
        ),
    ],
)
