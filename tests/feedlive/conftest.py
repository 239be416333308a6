"""Fixtures: the reference feed against an in-process mock venue on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from feed.config import FeedSettings
from feed.events import FeedEvent
from feed.feed import Feed
from mock_venues.binance_spot.book import diff_books
from mock_venues.binance_spot.server import BinanceSpotVenue, VenueConfig
from mock_venues.recordings import bundled

VENUE = "binance-spot"


def instrument(symbol: str) -> str:
    """The instrument id of a Binance spot symbol (``btcusdt`` -> ``binance-spot:BTCUSDT``)."""
    return f"{VENUE}:{symbol.upper()}"


def stream_names(feed: Feed) -> list[str]:
    """Every stream the feed's (only) venue carries."""
    return list(feed.venue().engine.streams)


@asynccontextmanager
async def venue_and_feed(
    tmp_path: Path,
    set_name: str,
    symbols: list[str],
    streams: list[str],
    *,
    venue: dict[str, Any] | None = None,
    feed: dict[str, Any] | None = None,
    before_feed: Callable[[BinanceSpotVenue], None] | None = None,
) -> AsyncIterator[tuple[BinanceSpotVenue, Feed, list[FeedEvent]]]:
    """A paused venue and a feed subscribed to it; the replay starts once every stream is subscribed."""
    venue_params: dict[str, Any] = {"recordings": bundled(set_name), "speed": 20.0, "autostart": False}
    venue_params.update(venue or {})
    async with BinanceSpotVenue(VenueConfig(**venue_params)) as v:
        if before_feed is not None:
            before_feed(v)
        settings = FeedSettings(
            symbols=symbols,
            streams=streams,
            ws_url=v.ws_url,
            rest_url=v.rest_url,
            dlq_path=tmp_path / "dlq.sqlite",
            **(feed or {}),
        )
        events: list[FeedEvent] = []
        f = Feed(settings, seed=1)
        f.on_event(events.append)
        async with f:
            await wait_subscribed(v, len(stream_names(f)))
            yield v, f, events


async def wait_subscribed(venue: BinanceSpotVenue, count: int, timeout: float = 10.0) -> None:
    """Until the venue's sessions hold ``count`` subscriptions in all."""
    deadline = asyncio.get_running_loop().time() + timeout
    while sum(len(s.subscriptions) for s in venue.sessions.values()) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"feed did not subscribe {count} streams")
        await asyncio.sleep(0.02)


async def settle(events: list[FeedEvent], quiet_s: float = 0.3) -> None:
    """Until no new event arrived for ``quiet_s``."""
    last = -1
    while last != len(events):
        last = len(events)
        await asyncio.sleep(quiet_s)


def delivered_ids(events: list[FeedEvent], stream: str) -> list[int]:
    """Venue ids of the market events delivered on ``stream``."""
    return [e.id for e in events if e.stream == stream and e.is_market and e.id is not None]


async def quiesce(venue: BinanceSpotVenue, events: list[FeedEvent], stall_s: float = 4.0) -> None:
    """Stall the venue's sender and wait until the feed has delivered everything in flight."""
    venue.stall(stall_s)
    await asyncio.sleep(0.05)
    await settle(events)


def events_of(events: list[FeedEvent], kind: str, stream: str | None = None) -> list[FeedEvent]:
    """Events of one type (optionally of one stream)."""
    return [e for e in events if e.type == kind and (stream is None or e.stream == stream)]


def book_problems(venue: BinanceSpotVenue, feed: Any, symbol: str) -> list[str]:
    """Differences between the feed's book and the venue's true book where the feed must be exact.

    Inside the price band of the snapshot the feed last synced from, both must hold the same levels;
    outside it the feed may lack levels it never saw, but every level it does hold must be right.
    """
    book = feed.book(instrument(symbol))
    if book is None:
        return [f"{symbol}: book not in sync"]
    band = book.band
    truth_view = venue.true_book(symbol, limit=1_000_000)
    truth = {"lastUpdateId": truth_view["id"], "bids": truth_view["bids"], "asks": truth_view["asks"]}
    mine = {"lastUpdateId": book.id, "bids": book.bids, "asks": book.asks}
    problems = [p for p in diff_books(truth, mine) if "None != expected" not in p]  # wrong values, wrong ids
    if band is None:
        return problems
    low, high = float(band[0]), float(band[1])
    inside = {
        "lastUpdateId": truth["lastUpdateId"],
        "bids": [lv for lv in truth["bids"] if float(lv[0]) >= low],
        "asks": [lv for lv in truth["asks"] if float(lv[0]) <= high],
    }
    mine_inside = {
        "lastUpdateId": book.id,
        "bids": [lv for lv in book.bids if float(lv[0]) >= low],
        "asks": [lv for lv in book.asks if float(lv[0]) <= high],
    }
    return problems + diff_books(inside, mine_inside)


async def wait_books_synced(feed: Any, symbols: list[str], timeout: float = 15.0) -> list[str]:
    """Until every book is in sync (a quiet symbol's book is rebuilt some time after a reconnect).

    Returns the symbols still out of sync when ``timeout`` ran out.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        unsynced = [s for s in symbols if not feed.book_synced(instrument(s))]
        if not unsynced or asyncio.get_running_loop().time() > deadline:
            return unsynced
        await asyncio.sleep(0.1)
