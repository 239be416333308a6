"""Acceptance: venue faults each have an exact, asserted outcome (gap reported or healed, book resynced,
malformed frame in the DLQ, nothing else lost)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from feed.dlq import DeadLetterQueue
from mock_venues.base.rest_faults import RestFaults
from mock_venues.binance_spot.server import BinanceSpotVenue
from tests.feedlive.conftest import book_problems, delivered_ids, events_of, quiesce, venue_and_feed

pytestmark = pytest.mark.timeout(120)

SYMBOL = "btcusdt"
TRADE, AGG, DEPTH, TICKER = (
    f"{SYMBOL}@trade",
    f"{SYMBOL}@aggTrade",
    f"{SYMBOL}@depth@100ms",
    f"{SYMBOL}@bookTicker",
)
ALL = ["trade", "aggTrade", "depth@100ms", "bookTicker"]
FAST = {"backoff_base_s": 0.05, "backoff_cap_s": 0.5, "reorder_window_ms": 30.0}


def assert_contiguous_and_complete(delivered: list[int], sent: list[int]) -> None:
    assert delivered == list(range(delivered[0], delivered[0] + len(delivered))), "not contiguous"
    assert set(sent) <= set(delivered)


def assert_book_exact(venue: BinanceSpotVenue, feed: object) -> None:
    assert book_problems(venue, feed, SYMBOL.upper()) == []


async def run_for(venue: BinanceSpotVenue, seconds: float) -> None:
    venue.start_replay()
    await asyncio.sleep(seconds)


@pytest.mark.parametrize(
    ("code", "client"),
    [
        (1000, "picows"),
        (1001, "picows"),
        (1008, "picows"),
        (1011, "picows"),
        (4000, "picows"),
        (1001, "websockets"),
    ],
)
async def test_close_codes_reconnect_backfill_and_resync(tmp_path: Path, code: int, client: str) -> None:
    cfg = {**FAST, "ws_client": client}
    async with venue_and_feed(tmp_path, "spot-btcusdt", [SYMBOL], ALL, feed=cfg) as (venue, feed, events):
        await run_for(venue, 1.0)
        await venue.close_connections(code=code, reason="test")
        await asyncio.sleep(2.0)
        await quiesce(venue, events)
        states = [e.detail["state"] for e in events_of(events, "connection") if e.detail]
        assert states.count("connected") == 2 and "disconnected" in states
        closed = next(
            e for e in events_of(events, "connection") if e.detail and e.detail["state"] == "disconnected"
        )
        assert closed.detail is not None and closed.detail["code"] == code
        for stream in (TRADE, AGG):
            assert_contiguous_and_complete(delivered_ids(events, stream), venue.history.ids(stream))
            assert not events_of(events, "gap", stream)  # trade streams are healed over REST
        assert delivered_ids(events, DEPTH) == venue.history.ids(DEPTH)  # each diff sent, exactly once
        assert_book_exact(venue, feed)


async def test_dropped_diff_is_a_gap_with_its_exact_ids_then_a_resync(tmp_path: Path) -> None:
    async with venue_and_feed(tmp_path, "spot-btcusdt", [SYMBOL], ["depth@100ms"], feed=FAST) as (
        venue,
        feed,
        events,
    ):
        await run_for(venue, 1.0)
        venue.add_fault("drop", stream=DEPTH, count=1)
        await asyncio.sleep(1.5)
        await quiesce(venue, events)
        (dropped,) = [e.detail["venue_id"] for e in venue.history.events if e.event == "dropped"]
        (gap,) = events_of(events, "gap", DEPTH)
        assert gap.id == dropped and gap.first_id is not None and gap.first_id <= dropped
        assert len(events_of(events, "book_invalid")) == 1
        assert len(events_of(events, "book_resynced")) == 2  # initial sync and the resync
        assert delivered_ids(events, DEPTH) == venue.history.ids(DEPTH)
        assert_book_exact(venue, feed)


async def test_duplicates_are_never_delivered(tmp_path: Path) -> None:
    async with venue_and_feed(tmp_path, "spot-btcusdt", [SYMBOL], ALL, feed=FAST) as (venue, feed, events):
        for stream in (TRADE, DEPTH, TICKER):
            venue.add_fault("duplicate", stream=stream, count=2)
        await run_for(venue, 1.5)
        await quiesce(venue, events)
        for stream in (TRADE, DEPTH, TICKER):
            assert delivered_ids(events, stream) == venue.history.ids(stream)
        assert feed.venue().engine.counters.duplicates == 6
        assert not events_of(events, "gap")


async def test_reordered_trades_are_healed_by_the_hold_window(tmp_path: Path) -> None:
    async with venue_and_feed(tmp_path, "spot-btcusdt", [SYMBOL], ["trade"], feed=FAST) as (
        venue,
        _feed,
        events,
    ):
        await run_for(venue, 0.5)
        venue.add_fault("reorder", stream=TRADE, count=3)
        await asyncio.sleep(1.5)
        await quiesce(venue, events)
        reordered = [r for r in venue.history.rows(stream=TRADE) if r.flag == 3]
        assert len(reordered) == 3
        sent = venue.history.ids(TRADE)
        assert sent != sorted(sent)  # the venue really sent them out of order
        assert delivered_ids(events, TRADE) == sorted(sent)
        assert not events_of(events, "gap") and not [e for e in events if e.backfilled]


async def test_malformed_frame_goes_to_the_dlq_and_the_trade_is_backfilled(tmp_path: Path) -> None:
    async with venue_and_feed(tmp_path, "spot-btcusdt", [SYMBOL], ["aggTrade"], feed=FAST) as (
        venue,
        feed,
        events,
    ):
        await run_for(venue, 0.5)
        venue.add_fault("corrupt", stream=AGG, count=1)
        await asyncio.sleep(1.5)
        await quiesce(venue, events)
        feed.dlq.flush()
        entries = list(DeadLetterQueue(tmp_path / "dlq.sqlite").entries())
        assert len(entries) == 1
        assert (
            entries[0].raw.startswith(b'{"stream":"btcusdt@aggTrade","data":') and b"\x07" in entries[0].raw
        )
        delivered = delivered_ids(events, AGG)
        assert_contiguous_and_complete(delivered, venue.history.ids(AGG))
        assert len([e for e in events if e.backfilled]) == 1
        assert not events_of(events, "gap")


async def test_dropped_trades_are_backfilled_in_order_before_live_resumes(tmp_path: Path) -> None:
    async with venue_and_feed(tmp_path, "spot-btcusdt", [SYMBOL], ["trade"], feed=FAST) as (
        venue,
        _feed,
        events,
    ):
        await run_for(venue, 0.5)
        venue.add_fault("drop", stream=TRADE, count=3)
        await asyncio.sleep(1.5)
        await quiesce(venue, events)
        dropped = [e.detail["venue_id"] for e in venue.history.events if e.event == "dropped"]
        assert len(dropped) == 3
        trades = [e for e in events if e.stream == TRADE and e.is_market]
        assert [e.id for e in trades] == sorted(e.id for e in trades)
        assert sorted(e.id for e in trades if e.backfilled) == sorted(dropped)
        assert_contiguous_and_complete([e.id for e in trades if e.id is not None], venue.history.ids(TRADE))
        assert not events_of(events, "gap")


async def test_sequence_gap_is_reported_and_the_book_resyncs(tmp_path: Path) -> None:
    async with venue_and_feed(tmp_path, "spot-btcusdt", [SYMBOL], ["depth@100ms"], feed=FAST) as (
        venue,
        feed,
        events,
    ):
        await run_for(venue, 1.0)
        venue.insert_gap(SYMBOL, skip=5)
        await asyncio.sleep(1.5)
        await quiesce(venue, events)
        (gap,) = events_of(events, "gap", DEPTH)
        assert gap.detail is not None and gap.detail["count"] == 5
        assert len(events_of(events, "book_resynced")) == 2
        assert_book_exact(venue, feed)


async def test_silent_stream_goes_stale_then_fresh_and_others_stay_fresh(tmp_path: Path) -> None:
    # Floor 0.6 s: well above any quiet spell of the other streams at x20, well below the 2.5 s silence.
    feed_cfg = {**FAST, "stale_floor_s": 0.6, "stale_factor": 5.0}
    async with venue_and_feed(tmp_path, "spot-btcusdt", [SYMBOL], ALL, feed=feed_cfg) as (
        venue,
        _feed,
        events,
    ):
        await run_for(venue, 1.0)
        venue.add_fault("silence", stream=TICKER, duration_s=2.5)
        await asyncio.sleep(3.5)
        before_stall = list(events)  # the stall below silences every stream; judge staleness before it
        await quiesce(venue, events)
        stale = events_of(before_stall, "stale")
        fresh = events_of(before_stall, "fresh")
        assert [e.stream for e in stale] == [TICKER]
        assert [e.stream for e in fresh] == [TICKER] and fresh[0].recv_ns > stale[0].recv_ns
        assert delivered_ids(events, TICKER) == venue.history.ids(TICKER)


async def test_refused_subscription_is_reported_and_retried(tmp_path: Path) -> None:
    def refuse(venue: BinanceSpotVenue) -> None:
        venue.add_fault("refuse_subscribe", stream=TRADE, count=1)

    async with venue_and_feed(
        tmp_path, "spot-btcusdt", [SYMBOL], ["trade"], feed=FAST, before_feed=refuse
    ) as (
        venue,
        _feed,
        events,
    ):
        subs = events_of(events, "subscription")
        assert [e.detail["accepted"] for e in subs if e.detail] == [False, True]
        await run_for(venue, 1.0)
        await quiesce(venue, events)
        assert delivered_ids(events, TRADE) == venue.history.ids(TRADE) != []


@pytest.mark.parametrize(("status", "retry_after"), [(429, 1), (418, 2)])
async def test_rest_throttling_is_honoured(tmp_path: Path, status: int, retry_after: int) -> None:
    def throttle(venue: BinanceSpotVenue) -> None:
        venue.set_rest_fault(
            RestFaults(status=status, count=1, paths=frozenset({"/api/v3/depth"}), retry_after_s=retry_after)
        )

    async with venue_and_feed(
        tmp_path, "spot-btcusdt", [SYMBOL], ["depth@100ms"], feed=FAST, before_feed=throttle
    ) as (venue, feed, events):
        await run_for(venue, retry_after + 1.5)
        await quiesce(venue, events)
        # (the feed's start-up exchangeInfo symbol check is not part of this)
        rest = [e for e in venue.history.events if e.event == "rest" and e.detail["path"] == "/api/v3/depth"]
        assert [e.detail["status"] for e in rest] == [status, 200]
        assert (rest[1].time_ns - rest[0].time_ns) / 1e9 >= retry_after
        assert feed.venue().recovery.throttled == 1
        assert_book_exact(venue, feed)


async def test_slow_snapshot_buffers_diffs_and_syncs(tmp_path: Path) -> None:
    def slow(venue: BinanceSpotVenue) -> None:
        venue.set_rest_fault(RestFaults(delay_s=1.5, count=1, paths=frozenset({"/api/v3/depth"})))

    async with venue_and_feed(
        tmp_path, "spot-btcusdt", [SYMBOL], ["depth@100ms"], feed=FAST, before_feed=slow
    ) as (
        venue,
        feed,
        events,
    ):
        await run_for(venue, 2.5)
        await quiesce(venue, events)
        (synced,) = events_of(events, "book_resynced")
        first_diff = next(e for e in events if e.is_market and e.kind == "depth")
        assert (synced.recv_ns - first_diff.recv_ns) / 1e9 >= 1.4
        assert not events_of(events, "gap")
        assert delivered_ids(events, DEPTH) == venue.history.ids(DEPTH)
        assert_book_exact(venue, feed)
