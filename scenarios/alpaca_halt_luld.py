"""Alpaca trading halt and LULD band: IBM is halted (status H, news pending), gets a limit-up/limit-down
band, and resumes (status T) while trades and quotes keep flowing on BAC. The trading-status events must be
delivered (channel `trading_status`) and nothing else may be disturbed: no gap, every trade accounted for."""

from harness.scenario import Expect, Scenario, VenueSpec, at, venue_fault

SCENARIO = Scenario(
    name="alpaca halt and LULD",
    description="Alpaca: IBM halted (H), LULD band, resumed (T)",
    speed=20.0,
    duration_s=6.0,
    venues=[
        VenueSpec(
            venue="alpaca",
            symbols=["IBM", "BAC"],
            streams=["trades", "quotes", "statuses", "lulds"],
            feed={"api_key": "mock-key", "api_secret": "mock-secret"},
        )
    ],
    timeline=[
        at(1.5, venue_fault("halt", symbol="IBM", code="H", reason="T1")),
        at(2.0, venue_fault("luld", symbol="IBM")),
        at(3.0, venue_fault("halt", symbol="IBM", code="T", reason="T12")),
    ],
    expect=[
        Expect("halt and resumption delivered", channel="trading_status", stream="statuses.IBM", at_least=2),
        Expect("LULD band delivered", channel="trading_status", stream="lulds.IBM", at_least=1),
        Expect("no gap", type="gap", at_least=0, at_most=0),
    ],
)
