"""Acceptance: a deliberately broken feed makes the matching checker fail, with evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from feed.binance_spot import book_sync
from feed.sequencer import Deliver, IdSequencer
from harness.runner import run_scenario
from harness.scenario import Scenario, at, venue_call, venue_fault

pytestmark = pytest.mark.timeout(120)


def failed_checks(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [v.check.split(" [")[0] for v in result.failed()]


async def test_without_deduplication_the_duplicate_check_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dedup(self, ident, item, now_ns):  # type: ignore[no-untyped-def]
        self.last_id = ident
        return [Deliver(ident, item)]

    monkeypatch.setattr(IdSequencer, "offer", no_dedup)
    scenario = Scenario(
        name="broken: no de-dup", description="", duration_s=3.0, streams=["trade"],
        timeline=[at(1.0, venue_fault("duplicate", "btcusdt@trade", count=3))],
    )  # fmt: skip
    result = await run_scenario(scenario, seed=3)
    duplicates = next(v for v in result.failed() if v.check.startswith("no duplicate delivery"))
    assert len(duplicates.evidence["duplicated_ids"]) == 3


async def test_without_the_continuity_check_the_book_check_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    original = book_sync.BookSync.on_diff

    def blind(self, first_id, final_id, bids, asks):  # type: ignore[no-untyped-def]
        if self.synced:
            first_id = min(first_id, self.book.last_update_id + 1)  # never sees a gap
        return original(self, first_id, final_id, bids, asks)

    monkeypatch.setattr(book_sync.BookSync, "on_diff", blind)
    scenario = Scenario(
        name="broken: no continuity check", description="", duration_s=3.0, streams=["depth@100ms"],
        timeline=[at(1.0, venue_fault("drop", "btcusdt@depth@100ms", count=3))],
    )  # fmt: skip
    result = await run_scenario(scenario, seed=3)
    assert "books exact" in failed_checks(result)


async def test_without_backfill_trade_loss_is_reported_as_gaps_not_hidden(tmp_path: Path) -> None:
    scenario = Scenario(
        name="no backfill", description="", duration_s=3.0, streams=["trade"], feed={"backfill": False},
        timeline=[at(1.0, venue_fault("drop", "btcusdt@trade", count=2))],
    )  # fmt: skip
    result = await run_scenario(scenario, seed=3)
    assert result.ok  # honest: the two trades are reported lost, so no check fails
    assert result.figures["gaps_lost_ids"] == 2 and result.figures["backfilled"] == 0


async def test_a_feed_that_hides_gaps_fails_the_loss_check(monkeypatch: pytest.MonkeyPatch) -> None:
    from feed.engine import VenueEngine

    monkeypatch.setattr(VenueEngine, "_gap", lambda self, *a, **k: None)
    scenario = Scenario(
        name="broken: silent gaps", description="", duration_s=3.0, streams=["depth@100ms"],
        timeline=[at(1.0, venue_call("gap", lambda v: v.insert_gap("BTCUSDT", 4)))],
    )  # fmt: skip
    result = await run_scenario(scenario, seed=3)
    assert "no unreported loss" not in failed_checks(result)  # skipped ids are not published ids...
    # ...but a dropped diff is: hiding its gap must fail the loss check.
    scenario.timeline = [at(1.0, venue_fault("drop", "btcusdt@depth@100ms", count=1))]
    result = await run_scenario(scenario, seed=3)
    lost = next(v for v in result.failed() if v.check.startswith("no unreported loss"))
    assert lost.evidence["lost"] == 1 and lost.evidence["first_lost"][0]["faults_active"]


async def test_a_buffer_too_small_for_a_slow_resync_fails_the_high_water_check() -> None:
    from mock_venues.base.rest_faults import RestFaults

    def scenario(capacity: int) -> Scenario:
        return Scenario(
            name="small buffer", description="", duration_s=4.0, streams=["depth@100ms"],
            feed={"buffer_capacity": capacity},
            timeline=[
                at(1.0, venue_call("slow snapshot", lambda v: v.set_rest_fault(
                    RestFaults(delay_s=1.5, count=1, paths=frozenset({"/api/v3/depth"}))))),
                at(1.1, venue_call("gap", lambda v: v.insert_gap("BTCUSDT", 3))),
            ],
        )  # fmt: skip

    small = await run_scenario(scenario(5), seed=3)
    high = next(v for v in small.verdicts if v.check == "buffer high-water mark")
    assert not high.ok and high.evidence["high_water"] == 5, high.summary  # overflowed: diffs were dropped
    roomy = await run_scenario(scenario(100_000), seed=3)
    high = next(v for v in roomy.verdicts if v.check == "buffer high-water mark")
    assert high.ok and 5 < high.evidence["high_water"] < 1000, high.summary
