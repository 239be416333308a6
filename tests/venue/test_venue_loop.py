"""Loop mode keeps every true book valid: each loop restarts it from the recording's first snapshot, the
depth stream stays contiguous, and a client following the stream holds the venue's book (never crossed)."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from typing import Any

import orjson
import pytest

from mock_venues.binance_spot.book import is_zero
from mock_venues.binance_spot.server import BinanceSpotVenue, VenueConfig
from mock_venues.binance_spot.tape import LOOP_RESTART
from mock_venues.recordings import bundled
from tests.venue.conftest import VenueFactory, connect

pytestmark = pytest.mark.timeout(300)


def _one_pass(venue: BinanceSpotVenue) -> int:
    """Messages in one pass of the venue's timeline (without loop)."""
    source = venue.source
    return sum(1 for _ in type(source)(source.paths, type(source.tape)(), fanout=source.fanout))


def _replay_through_model(set_name: str, loops: int, **config: Any) -> tuple[BinanceSpotVenue, int]:
    """Apply ``loops`` passes of a looped timeline to a (not started) venue's market model."""
    venue = BinanceSpotVenue(VenueConfig(recordings=bundled(set_name), loop=True, speed=None, **config))
    restarts = 0
    for rec in itertools.islice(venue.source, loops * _one_pass(venue)):
        restarts += rec.event == LOOP_RESTART
        venue.model.apply(rec, 0)
    return venue, restarts


@pytest.mark.parametrize(("set_name", "loops", "fanout"), [("spot-4sym-2021", 8, 2), ("spot-btcusdt", 3, 1)])
def test_true_books_never_cross_over_loops(set_name: str, loops: int, fanout: int) -> None:
    # spot-btcusdt crossed in its second loop before the restart (best bid 61837.63 over ask 61602.02).
    venue, restarts = _replay_through_model(set_name, loops, fanout=fanout)
    assert venue.books_crossed() == {}
    assert not any(book.crossed for book in venue.market.books.values())
    assert all(book.gaps == 0 for book in venue.market.books.values())
    assert restarts >= (loops - 2) * len(venue.market.books)  # restart messages are not in one pass


def _apply(book: dict[str, dict[str, str]], diff: dict[str, Any]) -> None:
    for side, key in (("bids", "b"), ("asks", "a")):
        for price, qty in diff[key]:
            if is_zero(qty):
                book[side].pop(price, None)
            else:
                book[side][price] = qty


async def test_a_client_of_the_looped_stream_holds_the_venue_book(
    venue_factory: VenueFactory,
) -> None:
    symbols = ["nknusdt", "lrcbtc", "blzeth", "runeeur"]
    streams = "/".join(f"{s}@depth@100ms" for s in symbols)
    async with venue_factory(loop=True) as venue, connect(f"{venue.ws_url}/stream?streams={streams}") as ws:
        books: dict[str, dict[str, dict[str, str]]] = {}
        last_u: dict[str, int] = {}
        for symbol in symbols:
            snap = venue.true_book(symbol)
            books[symbol.upper()] = {"bids": dict(snap["bids"]), "asks": dict(snap["asks"])}
            last_u[symbol.upper()] = snap["id"]
        one_pass = _one_pass(venue)
        venue.start_replay()
        broken: list[str] = []
        while venue.publisher.published < 6 * one_pass:
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            diff = frame["data"]
            symbol = diff["s"]
            if diff["u"] <= last_u[symbol]:
                continue  # before the snapshot the client started from
            if diff["U"] > last_u[symbol] + 1:
                broken.append(f"{symbol}: U {diff['U']} after u {last_u[symbol]}")
            _apply(books[symbol], diff)
            last_u[symbol] = diff["u"]
        venue.stall(3000)
        while True:  # drain what was sent before the stall
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                break
            diff = orjson.loads(raw)["data"]
            if diff["u"] > last_u[diff["s"]]:
                assert diff["U"] <= last_u[diff["s"]] + 1
                _apply(books[diff["s"]], diff)
                last_u[diff["s"]] = diff["u"]
        assert broken == []
        assert venue.books_crossed() == {}
        for symbol, book in books.items():
            truth = venue.true_book(symbol)
            assert last_u[symbol] == truth["id"], symbol
            assert book["bids"] == dict(truth["bids"]) and book["asks"] == dict(truth["asks"]), symbol
            best_bid = max(Decimal(p) for p in book["bids"])
            best_ask = min(Decimal(p) for p in book["asks"])
            assert best_bid < best_ask, symbol
