"""Acceptance: against the mock venue, every id the venue sent is delivered exactly once and in order, and
every book equals the venue's true book at the end and at every resync point."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_venues.binance_spot.tape import binance_source
from mock_venues.recordings import bundled
from tests.feedlive.conftest import book_problems, delivered_ids, settle, stream_names, venue_and_feed

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    ("set_name", "speed", "streams", "client"),
    [
        ("spot-btcusdt", 50.0, ["trade", "aggTrade", "depth@100ms", "bookTicker"], "picows"),
        ("spot-btcusdt", 50.0, ["trade", "aggTrade", "depth@100ms", "bookTicker"], "websockets"),
        ("spot-10sym-2021", 10.0, ["aggTrade", "depth@100ms", "bookTicker"], "picows"),
        ("spot-multi-2021", 10.0, ["aggTrade", "depth@100ms", "kline_1m"], "websockets"),
    ],
)
async def test_everything_sent_is_delivered_once_in_order_and_books_are_exact(
    tmp_path: Path, set_name: str, speed: float, streams: list[str], client: str
) -> None:
    symbols = [s.lower() for s in binance_source(bundled(set_name)).symbols]
    async with venue_and_feed(
        tmp_path, set_name, symbols, streams, venue={"speed": speed}, feed={"ws_client": client}
    ) as (
        venue,
        feed,
        events,
    ):
        venue.start_replay()
        await venue.wait_replay_done(90)
        await settle(events)
        checked = 0
        for name in stream_names(feed):
            sent = venue.history.ids(name)
            assert delivered_ids(events, name) == sent, name
            checked += len(sent)
        for symbol in symbols:
            assert book_problems(venue, feed, symbol.upper()) == [], symbol
    assert checked > 1000
    assert not [e for e in events if e.type == "gap"]
    assert feed.venue().engine.counters.rejected_total == 0
