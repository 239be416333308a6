"""Acceptance over real recordings: every trade id and depth final-update id the venue sent is delivered
exactly once and in order, and the feed's book equals the venue's true book at every resync point and at
the end. Bundled sets always; every Binance spot capture of ../shared/recordings when it is present."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from feed.config import FeedSettings
from feed.events import FeedEvent
from feed.feed import Feed
from mock_venues.binance_spot.book import TrueBook, diff_books
from mock_venues.binance_spot.server import BinanceSpotVenue, VenueConfig
from mock_venues.binance_spot.tape import binance_source
from mock_venues.recordings import bundled, shared_recordings_dir
from mock_venues.replay.source import ReplaySource
from tests.feedlive.conftest import (
    book_problems,
    delivered_ids,
    instrument,
    settle,
    stream_names,
    wait_subscribed,
)

pytestmark = pytest.mark.timeout(240)


class ResyncChecker:
    """Shadows the venue's book from the diffs delivered; compares the feed's book at each resync."""

    def __init__(self, feed: Feed, source: ReplaySource) -> None:
        self.feed = feed
        self.shadow: dict[str, TrueBook] = {}
        for symbol in source.symbols:
            book = TrueBook(symbol)
            snap = source.initial_snapshot(symbol)
            if snap is not None:
                book.load_snapshot(snap["lastUpdateId"], snap["bids"], snap["asks"])
            self.shadow[symbol] = book
        self.checked = 0
        self.problems: list[str] = []

    def __call__(self, event: FeedEvent) -> None:
        if event.is_market and event.kind == "depth":
            data = event.data
            self.shadow[event.symbol].apply_diff(data.U, data.u, data.b, data.a)
        elif event.type == "book_resynced":
            self.checked += 1
            self.problems += [f"{event.symbol}@{event.id}: {p}" for p in self._compare(event.symbol)]

    def _compare(self, symbol: str) -> list[str]:
        book = self.feed.book(instrument(symbol))
        band = book.band if book is not None else None
        if book is None or band is None:
            return ["not in sync at its resync event"]
        low, high = float(band[0]), float(band[1])
        truth = self.shadow[symbol].snapshot(1_000_000)

        def cut(body: dict[str, Any]) -> dict[str, Any]:
            return {
                "lastUpdateId": body["lastUpdateId"],
                "bids": [lv for lv in body["bids"] if float(lv[0]) >= low],
                "asks": [lv for lv in body["asks"] if float(lv[0]) <= high],
            }

        return diff_books(cut(truth), cut({"lastUpdateId": book.id, "bids": book.bids, "asks": book.asks}))


async def run_recording(tmp_path: Path, paths: list[Path], speed: float, gaps: int) -> int:
    """Replay through venue and feed, checking everything; returns how many forced gaps were detected."""
    source = binance_source(paths)
    symbols = [s.lower() for s in source.symbols]
    kinds = sorted(
        {s.split("@", 1)[1] for s in source.streams if "@depth" in s or "@trade" in s or "@aggTrade" in s}
    )
    kinds = [k.replace("depth@0ms", "depth@100ms") for k in kinds]
    config = VenueConfig(recordings=paths, speed=speed, autostart=False)
    async with BinanceSpotVenue(config) as venue:
        settings = FeedSettings(
            symbols=symbols, streams=kinds, ws_url=venue.ws_url, rest_url=venue.rest_url,
            dlq_path=tmp_path / "dlq.sqlite", snapshot_limit=5000, rest_weight_per_minute=6000,
        )  # fmt: skip
        events: list[FeedEvent] = []
        async with Feed(settings) as feed:
            checker = ResyncChecker(feed, source)
            feed.on_event(checker)
            feed.on_event(events.append)
            await wait_subscribed(venue, len(stream_names(feed)))
            venue.start_replay()
            for _ in range(gaps):  # force resyncs mid-stream: each must land on an exact book
                await asyncio.sleep(1.0)
                for symbol in source.symbols:
                    venue.insert_gap(symbol, skip=3)
            await venue.wait_replay_done(200)
            await settle(events)
            # A resync whose snapshot is still in flight at the end (a loaded machine: REST answers slower
            # than settle's quiet period) lands late, not never: wait for it, within a bound.
            for _ in range(100):
                if checker.checked >= len(source.symbols) + len([e for e in events if e.type == "gap"]):
                    break
                await asyncio.sleep(0.1)
            await settle(events)
            for name in stream_names(feed):
                if "@depth" in name or "@trade" in name or "@aggTrade" in name:
                    assert delivered_ids(events, name) == venue.history.ids(name), name
            assert checker.problems == []
            for symbol in source.symbols:
                assert book_problems(venue, feed, symbol) == [], symbol
            # Every gap is one of the inserted jumps (3 ids), and each one led to a checked resync. A quiet
            # symbol that sent no diff after a jump has nothing to detect it by, so not every jump shows.
            reported = [e for e in events if e.type == "gap"]
            assert [e.detail for e in reported if not e.detail or e.detail["count"] % 3] == []  # jumps of 3
            assert len(reported) <= gaps * len(source.symbols)
            assert checker.checked == len(source.symbols) + len(reported)
            return len(reported)


@pytest.mark.parametrize(("name", "speed", "gaps"), [("spot-4sym-2021", 5.0, 2), ("spot-btcusdt", 50.0, 3)])
async def test_bundled_recording_with_forced_resyncs(
    tmp_path: Path, name: str, speed: float, gaps: int
) -> None:
    assert await run_recording(tmp_path, bundled(name), speed, gaps) >= 1


SHARED = shared_recordings_dir()
SPOT_CAPTURES: list[list[Path]] = []
if SHARED is not None:
    spot = SHARED / "hftbacktest" / "spot"
    SPOT_CAPTURES = [sorted(spot.glob("btcusdt_2024080[89].norm.jsonl.gz"))] + [
        [p] for p in sorted(SHARED.glob("cryptofeed/*/sample_data/BINANCE-*.norm.jsonl"))
    ]
    ws4 = sorted(SHARED.glob("cryptofeed/b90fa9b87c/sample_data/BINANCE.*.norm.jsonl"))
    SPOT_CAPTURES.append([p for p in ws4 if ".ws." in p.name or ".http." in p.name])


@pytest.mark.slow
@pytest.mark.skipif(SHARED is None, reason="../shared/recordings not present (fresh clone)")
@pytest.mark.parametrize("paths", SPOT_CAPTURES, ids=lambda ps: ps[0].name if ps else "none")
async def test_every_shared_spot_capture(tmp_path: Path, paths: list[Path]) -> None:
    await run_recording(tmp_path, paths, speed=50.0, gaps=1)
