"""What `tickstorm feed` says and when: ready only once connected and subscribed, concise log lines on
stderr between ready and stopped (text or JSON), and unknown symbols refused against the venue's listing."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import orjson
import pytest

from feed.config import FeedSettings
from feed.feed import Feed
from feed.venue_feed import UnknownSymbols
from mock_venues.binance_spot.server import BinanceSpotVenue, VenueConfig
from mock_venues.recordings import bundled
from tickstorm.procs import ServiceProcess, ServiceStartError

from .conftest import events_of, venue_and_feed

UNREACHABLE = ["--ws-url", "ws://127.0.0.1:1", "--rest-url", "http://127.0.0.1:1"]


def feed_cmd(tmp_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tickstorm", "feed", "--dlq", str(tmp_path / "dlq.sqlite"), *args]


async def test_a_feed_that_cannot_connect_never_says_ready_and_says_why(tmp_path: Path) -> None:
    """The issue: ``"connections":1`` in a ready line while every connect failed. The harness's bounded
    wait for the ready line now fails, with the feed's own reason in the message."""
    proc = ServiceProcess(feed_cmd(tmp_path, *UNREACHABLE), name="feed", ready_timeout_s=3.0)
    with pytest.raises(ServiceStartError) as failed:
        await proc.start()
    assert "feed did not become ready" in str(failed.value)
    assert "cannot connect to ws://127.0.0.1:1" in str(failed.value) and "retrying in" in str(failed.value)
    assert proc.proc is not None and proc.proc.returncode is not None  # stopped, not leaked


async def test_ready_means_connected_and_subscribed(tmp_path: Path) -> None:
    config = VenueConfig(recordings=bundled("spot-btcusdt"), speed=20.0, autostart=False)
    async with BinanceSpotVenue(config) as venue:
        args = ["--symbols", "btcusdt", "--streams", "trade,bookTicker", "--ws-url", venue.ws_url]
        async with ServiceProcess(feed_cmd(tmp_path, *args, "--rest-url", venue.rest_url)) as proc:
            assert proc.ready["venues"]["binance-spot"]["connections"] == 1
            assert sum(len(s.subscriptions) for s in venue.sessions.values()) == 2  # already, at ready


async def test_unknown_symbols_are_refused_against_the_venue_listing(tmp_path: Path) -> None:
    config = VenueConfig(recordings=bundled("spot-btcusdt"), speed=20.0, autostart=False)
    async with BinanceSpotVenue(config) as venue:
        settings = FeedSettings(
            symbols=["btcusdt", "foobar"], streams=["trade"], ws_url=venue.ws_url, rest_url=venue.rest_url,
            dlq_path=tmp_path / "dlq.sqlite",
        )  # fmt: skip
        feed = Feed(settings)
        with pytest.raises(
            UnknownSymbols, match=r"binance-spot: the venue does not list symbol\(s\) FOOBAR "
        ):
            await feed.start()
        assert not feed.venue().pool.connections  # nothing left open
        proc = await asyncio.create_subprocess_exec(
            *feed_cmd(tmp_path, "--symbols", "btcusdt,foobar", "--ws-url", venue.ws_url, "--rest-url",
                      venue.rest_url),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and out == b""
    assert err.decode().startswith("tickstorm feed: binance-spot: the venue does not list symbol(s) FOOBAR")
    assert err.count(b"\n") == 1


async def test_symbols_added_at_runtime_are_checked_against_the_listing_too(tmp_path: Path) -> None:
    config = VenueConfig(recordings=bundled("spot-btcusdt"), speed=20.0, autostart=False)
    async with BinanceSpotVenue(config) as venue:
        settings = FeedSettings(
            symbols=["btcusdt"], streams=["trade"], ws_url=venue.ws_url, rest_url=venue.rest_url,
            dlq_path=tmp_path / "dlq.sqlite",
        )  # fmt: skip
        async with Feed(settings) as feed:
            with pytest.raises(UnknownSymbols, match=r"does not list symbol\(s\) NOPE "):
                await feed.add_symbols(["nope"])
            assert sorted(feed.venue().engine.streams) == ["btcusdt@trade"]  # nothing half-added


async def test_json_logs_and_quiet(tmp_path: Path) -> None:
    async def stderr_of(*extra: str) -> list[str]:
        proc = await asyncio.create_subprocess_exec(
            *feed_cmd(tmp_path, *UNREACHABLE, *extra),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await asyncio.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert b'"event":"ready"' not in out
        return err.decode().splitlines()

    lines = await stderr_of("--log-json")
    logs = [orjson.loads(line) for line in lines[:-1]]
    assert orjson.loads(lines[-1])["event"] == "stopped"  # the machine line stays as it was
    failed = [d for d in logs if d.get("state") == "connect_failed"]
    assert failed and all(d["level"] == "warning" and d["venue"] == "binance-spot" for d in failed)
    assert "retry_in_s" in failed[0] and failed[0]["msg"].startswith("binance-spot: cannot connect")
    quiet = await stderr_of("--quiet")
    assert any("cannot connect" in line for line in quiet)  # problems still show
    assert not any(" INFO " in line for line in quiet)


async def test_a_refused_subscription_and_a_gap_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="feed")

    def refuse(venue: BinanceSpotVenue) -> None:
        venue.add_fault("refuse_subscribe", stream="btcusdt@depth@100ms", count=1)

    async with venue_and_feed(
        tmp_path, "spot-btcusdt", ["btcusdt"], ["depth@100ms"], before_feed=refuse,
        feed={"backoff_base_s": 0.05},
    ) as (venue, _feed, events):  # fmt: skip
        venue.start_replay()
        for _ in range(100):
            if events_of(events, "book_resynced"):
                break
            await asyncio.sleep(0.05)
        venue.insert_gap("btcusdt", skip=5)
        for _ in range(100):
            if events_of(events, "gap"):
                break
            await asyncio.sleep(0.05)
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("feed")]
    assert any(
        lvl == logging.WARNING and "refused to subscribe btcusdt@depth@100ms" in m for lvl, m in messages
    )
    assert any(lvl == logging.WARNING and "gap on btcusdt@depth@100ms" in m for lvl, m in messages), messages
