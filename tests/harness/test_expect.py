"""Scenario expectations (venue-neutral event counts) and the venue's own faults as timeline steps."""

from __future__ import annotations

import pytest

from harness.checks.expect import Expect, check_expectations
from harness.feed_history import FeedEventRow
from harness.scenario import Scenario, ScenarioError, VenueSpec, at, venue_fault, venue_heal

EVENTS = [
    FeedEventRow(type="market", venue="a", channel="trade", stream="trades.IBM", id=1),
    FeedEventRow(type="market", venue="a", channel="trade", stream="trades.BAC", id=2, backfilled=True),
    FeedEventRow(type="gap", venue="a", channel="quote", stream="quotes.IBM", detail={"to_ns": 5}),
    FeedEventRow(type="connection", venue="a", detail={"state": "login_failed", "code": 402, "fatal": False}),
    FeedEventRow(type="connection", venue="b", detail={"state": "connected"}),
]


def test_expectations_count_matching_events_against_their_bounds() -> None:
    verdicts = check_expectations(
        EVENTS,
        [
            Expect("trades", channel="trade", stream="trades.", at_least=2),
            Expect("backfilled", backfilled=True, at_least=1, at_most=1),
            Expect("no gap on trades", type="gap", stream="trades.", at_least=0, at_most=0),
            Expect("402", type="connection", venue="a", detail={"state": "login_failed", "code": 402}),
            Expect("a gap on trades", type="gap", stream="trades.*"),  # fails: none
            Expect("one trade only", channel="trade", at_most=1),  # fails: two
            Expect("406", type="connection", detail={"code": 406}),  # fails: detail differs
            Expect("IBM exactly", stream="trades.IB"),  # fails: a name, not a prefix
        ],
    )
    assert [v.ok for v in verdicts] == [True, True, True, True, False, False, False, False]
    assert verdicts[5].evidence["matched"] == 2 and verdicts[0].check == "expected: trades"


def test_a_venue_fault_of_the_venues_own_is_checked_against_its_kinds() -> None:
    spec = VenueSpec(venue="alpaca", symbols=["IBM"], streams=["trades"])
    ok = Scenario(
        name="s", description="", venues=[spec], timeline=[at(1, venue_fault("auth_failure", count=1))]
    )
    ok.validate()
    step = ok.timeline[0].action
    assert step.name == "venue:auth_failure" and step.fault == "venue:auth_failure"
    assert venue_heal().heals == "venue:"
    bad = Scenario(name="s", description="", venues=[spec], timeline=[at(1, venue_fault("explode"))])
    with pytest.raises(ScenarioError, match="has no fault 'explode'"):
        bad.validate()
    binance = Scenario(name="s", description="", timeline=[at(1, venue_fault("auth_failure"))])
    with pytest.raises(ScenarioError, match="own: none"):
        binance.validate()
    with pytest.raises(ScenarioError, match="needs the stream"):
        venue_fault("drop")


def test_a_scenario_without_a_recording_replays_each_venues_default() -> None:
    scenario = Scenario(name="s", description="", venues=[VenueSpec(venue="alpaca"), VenueSpec(name="b")])
    assert [s.recording for s in scenario.venue_specs()] == ["alpaca", "spot-btcusdt"]
    assert Scenario(name="s", description="", recording="spot-4sym-2021").venue_specs()[0].recording == (
        "spot-4sym-2021"
    )
