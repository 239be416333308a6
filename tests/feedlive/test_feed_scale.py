"""Planned rotation (make-before-break) and 200 symbols through a venue outage without a reconnect storm."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.feedlive.conftest import (
    book_problems,
    delivered_ids,
    events_of,
    quiesce,
    venue_and_feed,
    wait_books_synced,
)

pytestmark = pytest.mark.timeout(180)


async def test_rotation_before_the_venue_cut_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    venue_cfg = {"speed": 20.0, "max_connection_age_s": 4.0}
    feed_cfg = {"rotate_after_s": 1.5, "rotation_overlap_s": 0.5, "backoff_base_s": 0.05}
    streams = ["trade", "depth@100ms", "bookTicker"]
    async with venue_and_feed(
        tmp_path, "spot-btcusdt", ["btcusdt"], streams, venue=venue_cfg, feed=feed_cfg
    ) as (
        venue,
        feed,
        events,
    ):
        venue.start_replay()
        await asyncio.sleep(5.0)
        await quiesce(venue, events)
        states = [e.detail["state"] for e in events_of(events, "connection") if e.detail]
        assert states.count("rotated") >= 2
        assert "disconnected" not in states  # never cut by the venue: rotated first
        assert not any(e.event == "max_age_close" for e in venue.history.events)
        for stream in ("btcusdt@trade", "btcusdt@depth@100ms", "btcusdt@bookTicker"):
            sent = venue.history.ids(stream)  # both connections of an overlap: duplicates included
            assert len(sent) > len(set(sent))  # the overlap really sent some messages twice
            assert delivered_ids(events, stream) == sorted(set(sent))
        assert feed.venue().engine.counters.duplicates > 0
        assert not events_of(events, "gap")
        assert book_problems(venue, feed, "BTCUSDT") == []


@pytest.mark.slow
async def test_200_symbols_through_an_outage_stay_within_venue_limits(tmp_path: Path) -> None:
    venue_cfg = {"speed": 4.0, "fanout": 50}
    feed_cfg = {"snapshot_limit": 100, "backoff_base_s": 0.2, "backoff_cap_s": 2.0}
    symbols = [s.lower() for s in ("NKNUSDT", "LRCBTC", "BLZETH", "RUNEEUR")]
    symbols = [s if i == 0 else f"{s}f{i:03d}" for s in symbols for i in range(50)]
    streams = ["depth@100ms", "aggTrade"]
    async with venue_and_feed(
        tmp_path, "spot-4sym-2021", symbols, streams, venue=venue_cfg, feed=feed_cfg
    ) as (
        venue,
        feed,
        events,
    ):
        assert len(feed.venue().pool.connections) == 2  # 400 streams, 200 per connection
        venue.start_replay()
        await asyncio.sleep(1.0)
        for _ in range(10):  # three seconds of a flapping venue
            await venue.close_connections(code=1011, reason="outage")
            await asyncio.sleep(0.3)
        await asyncio.sleep(4.0)
        await quiesce(venue, events, stall_s=8.0)
        connects = [e for e in venue.history.events if e.event == "connect"]
        assert 2 < len(connects) <= 40  # backoff: far fewer than one attempt per close per connection
        assert not [e for e in venue.history.events if e.event == "connection_refused"]
        rest = [e.detail for e in venue.history.events if e.event == "rest"]
        assert not [r for r in rest if r["status"] in (418, 429)]
        assert sum(r["weight"] for r in rest) <= 6000
        assert await wait_books_synced(feed, symbols) == []
        wrong = {s: p for s in symbols if (p := book_problems(venue, feed, s.upper()))}
        assert wrong == {}
        for symbol in symbols:
            agg = delivered_ids(events, f"{symbol}@aggTrade")
            assert agg == list(range(agg[0], agg[0] + len(agg))) if agg else True
