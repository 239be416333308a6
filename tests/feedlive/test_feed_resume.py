"""`--resume` trusts nothing it reads: garbage and journals ahead of the venue are refused naming file and
line, a torn last line (the feed was killed mid-write) resumes cleanly, all against a venue on loopback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from feed.config import FeedSettings
from feed.feed import Feed
from feed.journal import JournalError, read_journal, resume_point
from mock_venues.binance_spot.server import BinanceSpotVenue, VenueConfig
from mock_venues.recordings import bundled

from .conftest import wait_subscribed

TRADE = "btcusdt@trade"


def settings(venue: BinanceSpotVenue, journal: Path, *, resume: bool) -> FeedSettings:
    return FeedSettings(
        symbols=["btcusdt"],
        streams=["trade"],
        ws_url=venue.ws_url,
        rest_url=venue.rest_url,
        dlq_path=journal.parent / "dlq.sqlite",
        jsonl=journal,
        resume=resume,
    )


async def journal_some_trades(venue: BinanceSpotVenue, journal: Path, at_least: int = 20) -> None:
    """Run a feed writing ``journal`` until it delivered ``at_least`` trades (bounded), then stop it."""
    async with Feed(settings(venue, journal, resume=False), seed=1) as feed:
        await wait_subscribed(venue, 1)
        for _ in range(200):
            if feed.venue().engine.counters.messages.get("trade", 0) >= at_least:
                break
            await asyncio.sleep(0.05)
    assert sum(1 for e in read_journal(journal) if e.is_market) >= at_least


def running_venue() -> BinanceSpotVenue:
    return BinanceSpotVenue(VenueConfig(recordings=bundled("spot-btcusdt"), speed=20.0, autostart=True))


async def test_a_garbage_journal_is_refused_naming_file_and_line_and_left_untouched(tmp_path: Path) -> None:
    journal = tmp_path / "out.jsonl"
    garbage = bytes(range(256)) * 400  # binary noise with newlines in it
    journal.write_bytes(garbage)
    async with running_venue() as venue:
        with pytest.raises(JournalError, match=rf"^{journal}:1: no events journal header"):
            await Feed(settings(venue, journal, resume=True)).start()
    assert journal.read_bytes() == garbage  # nothing cut, nothing appended


def test_the_cli_refuses_a_garbage_journal_in_one_line(tmp_path: Path) -> None:
    journal = tmp_path / "out.jsonl"
    journal.write_bytes(bytes(range(256)) * 400)
    done = subprocess.run(
        [sys.executable, "-m", "tickstorm", "feed", "--jsonl", str(journal), "--resume", "--dlq",
         str(tmp_path / "dlq.sqlite"), "--ws-url", "ws://127.0.0.1:1", "--rest-url", "http://127.0.0.1:1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"tickstorm feed: {journal}:1: ") and done.stderr.count("\n") == 1
    assert done.stdout == ""  # no ready line


async def test_a_journal_going_back_is_refused_at_its_line(tmp_path: Path) -> None:
    journal = tmp_path / "out.jsonl"
    async with running_venue() as venue:
        await journal_some_trades(venue, journal)
        lines = journal.read_bytes().splitlines(keepends=True)
        lines.append(next(line for line in lines if b'"type":"market"' in line))  # an earlier trade again
        journal.write_bytes(b"".join(lines))
        with pytest.raises(
            JournalError, match=rf"^{journal}:{len(lines)}: id \d+ of binance-spot {TRADE} goes"
        ):
            await Feed(settings(venue, journal, resume=True)).start()


async def test_a_journal_ten_times_ahead_of_the_venue_is_refused(tmp_path: Path) -> None:
    """The issue's case: ids 10x the real ones made the resumed feed drop every live trade as a duplicate."""
    journal = tmp_path / "out.jsonl"
    async with running_venue() as venue:
        await journal_some_trades(venue, journal)
        lines = journal.read_bytes().splitlines(keepends=True)
        out = [lines[0]]
        for line in lines[1:]:
            doc = orjson.loads(line)
            if doc.get("id") is not None:
                doc["id"] *= 10
            out.append(orjson.dumps(doc) + b"\n")
        journal.write_bytes(b"".join(out))
        last = max(n for n, line in enumerate(out, 1) if orjson.loads(line).get("stream") == TRADE)
        with pytest.raises(
            JournalError, match=rf"^{journal}:{last}: id \d+ of binance-spot {TRADE} is ahead"
        ):
            await Feed(settings(venue, journal, resume=True)).start()


async def test_a_torn_last_line_resumes_cleanly(tmp_path: Path) -> None:
    journal = tmp_path / "out.jsonl"
    async with running_venue() as venue:
        await journal_some_trades(venue, journal)
        before = resume_point(journal).ids[("binance-spot", TRADE)]
        with journal.open("ab") as torn:
            torn.write(b'{"type":"market","venue":"binance-spot","stream":"btcusdt@trade","id":9')  # killed
        events = []
        async with Feed(settings(venue, journal, resume=True), seed=1) as feed:
            feed.on_event(events.append)
            await wait_subscribed(venue, 1)
            for _ in range(200):
                if any(e.is_market and e.id is not None and e.id > before + 5 for e in events):
                    break
                await asyncio.sleep(0.05)
    assert journal.read_bytes().count(b'"id":9\n') == 0  # the torn line was cut, not continued
    trades = [e.id for e in read_journal(journal) if e.is_market and e.stream == TRADE]
    assert trades == sorted(set(trades)), "nothing delivered twice, in order across the restart"
    assert trades[-1] > before + 5
    assert resume_point(journal).ids[("binance-spot", TRADE)] == trades[-1]  # the journal still validates
    assert not [e for e in events if e.type == "gap" and (e.detail or {}).get("rebase")]
