"""The Alpaca adapter live, against a fake Alpaca venue on 127.0.0.1 written to the protocol sheet:
login, subscribe, receive, drop, reconnect, time-window backfill over REST (no duplicate, no loss),
login refusals (406 retried with backoff, 409 fatal for its endpoint), one connection per endpoint."""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from feed.config import FeedSettings
from feed.events import FeedEvent
from feed.feed import Feed
from tests.feedlive.alpaca_fake import FakeAlpaca, wait_for
from tickstorm.procs import ServiceProcess

pytestmark = pytest.mark.timeout(60)

FAST = {"backoff_base_s": 0.05, "backoff_cap_s": 0.3, "backoff_stable_after_s": 30.0}
_ids = itertools.count(1000)


def stock_trade(symbol: str = "AAPL", x: str = "V", i: int | None = None) -> dict[str, Any]:
    return {"T": "t", "S": symbol, "i": next(_ids) if i is None else i, "x": x, "p": 101.5, "s": 10,
            "c": ["@"], "z": "C", "t": time.time_ns()}  # fmt: skip


def crypto_trade(symbol: str = "BTC/USD") -> dict[str, Any]:
    return {"T": "t", "S": symbol, "i": next(_ids), "p": 71000.5, "s": 0.25, "tks": "B", "t": time.time_ns()}


def quote(symbol: str = "AAPL") -> dict[str, Any]:
    return {"T": "q", "S": symbol, "bx": "V", "bp": 1.0, "bs": 1, "ax": "V", "ap": 1.1, "as": 2, "c": ["R"],
            "z": "C", "t": time.time_ns()}  # fmt: skip


@asynccontextmanager
async def alpaca_feed(
    tmp_path: Path, fake: FakeAlpaca, **options: Any
) -> AsyncIterator[tuple[Feed, list[FeedEvent]]]:
    given = {"api_key": fake.key, "api_secret": fake.secret, **FAST, **options}
    settings = FeedSettings(
        venue="alpaca", ws_url=fake.ws_url, rest_url=fake.rest_url, dlq_path=tmp_path / "dlq.sqlite", **given
    )
    events: list[FeedEvent] = []
    feed = Feed(settings, seed=7)
    feed.on_event(events.append)
    async with feed:
        yield feed, events


def trade_keys(events: list[FeedEvent], stream: str) -> list[tuple[Any, ...]]:
    return [(e.data.get("x"), e.id) for e in events if e.type == "market" and e.stream == stream]


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
async def test_drop_reconnect_backfills_the_window_without_duplicate_or_loss(
    tmp_path: Path, encoding: str
) -> None:
    async with (
        FakeAlpaca(page_size=2) as fake,
        alpaca_feed(
            tmp_path, fake, symbols=["AAPL", "BTC/USD"], streams=["trades", "quotes"], encoding=encoding
        ) as (feed, events),
    ):
        await asyncio.wait_for(feed.wait_ready(), 10)
        assert fake.subscribed("stocks", "corrections") == {"AAPL"}  # came with the trades
        sent_stock, sent_crypto = [], []
        for _ in range(3):
            sent_stock.append(stock_trade())
            sent_crypto.append(crypto_trade())
        sent_stock.append(stock_trade(x="K", i=sent_stock[0]["i"]))  # same id, other exchange: distinct
        await fake.publish("stocks", quote())
        for m in sent_stock:
            await fake.publish("stocks", m)
        for m in sent_crypto:
            await fake.publish("crypto", m)
        await wait_for(lambda: len(trade_keys(events, "trades.AAPL")) == 4, what="live stock trades")

        await fake.drop()
        await wait_for(lambda: not feed.ready, what="the feed to notice the drop")
        missed_stock = [stock_trade() for _ in range(5)]  # published while nobody is connected
        missed_crypto = [crypto_trade() for _ in range(3)]
        for m in missed_stock:
            await fake.publish("stocks", m)
        for m in missed_crypto:
            await fake.publish("crypto", m)
        await asyncio.wait_for(feed.wait_ready(), 10)
        after_stock, after_crypto = [stock_trade() for _ in range(2)], [crypto_trade()]
        for m in after_stock:
            await fake.publish("stocks", m)
        for m in after_crypto:
            await fake.publish("crypto", m)
        await fake.publish("stocks", quote())

        every_stock = sent_stock + missed_stock + after_stock
        every_crypto = sent_crypto + missed_crypto + after_crypto
        await wait_for(
            lambda: (
                len(trade_keys(events, "trades.AAPL")) >= len(every_stock)
                and len(trade_keys(events, "trades.BTC/USD")) >= len(every_crypto)
            ),
            what="every trade delivered",
        )
        await asyncio.sleep(0.3)  # anything extra (a duplicate) would land now

    stock = trade_keys(events, "trades.AAPL")
    assert stock == [(m["x"], m["i"]) for m in every_stock]  # no loss, no duplicate, in order
    crypto = [i for _, i in trade_keys(events, "trades.BTC/USD")]
    assert crypto == [m["i"] for m in every_crypto]
    backfilled = {(e.data.get("x"), e.id) for e in events if e.type == "market" and e.backfilled}
    assert {(m["x"], m["i"]) for m in missed_stock} <= backfilled
    assert {(None, m["i"]) for m in missed_crypto} <= backfilled
    gaps = [e for e in events if e.type == "gap"]
    assert [g.stream for g in gaps] == ["quotes.AAPL"]  # quotes have no REST window: reported, with range
    assert gaps[0].detail is not None and gaps[0].detail["from_ns"] < gaps[0].detail["to_ns"]
    assert fake.max_concurrent == {"stocks": 1, "crypto": 1}  # never a second connection per endpoint
    assert any("page_token=" in r for r in fake.rest_requests)  # paged through next_page_token


async def test_429_on_the_window_is_waited_out(tmp_path: Path) -> None:
    async with (
        FakeAlpaca(rest_429=2, retry_after_s=0.05) as fake,
        alpaca_feed(tmp_path, fake, symbols=["AAPL"], streams=["trades"]) as (feed, events),
    ):
        await asyncio.wait_for(feed.wait_ready(), 10)
        first = stock_trade()
        await fake.publish("stocks", first)
        await wait_for(lambda: len(trade_keys(events, "trades.AAPL")) == 1, what="first trade")
        await fake.drop()
        await wait_for(lambda: not feed.ready, what="the drop")
        missed = stock_trade()
        await fake.publish("stocks", missed)
        await asyncio.wait_for(feed.wait_ready(), 10)
        last = stock_trade()
        await fake.publish("stocks", last)
        await wait_for(lambda: len(trade_keys(events, "trades.AAPL")) == 3, what="backfill after 429s")
        assert fake.rest_throttled == 2
        assert feed.venue().recovery is not None and feed.venue().recovery.throttled == 2
    assert [i for _, i in trade_keys(events, "trades.AAPL")] == [first["i"], missed["i"], last["i"]]
    assert [e for e in events if e.type == "gap"] == []


async def test_406_at_login_is_retried_with_backoff(tmp_path: Path) -> None:
    async with (
        FakeAlpaca(refuse_logins=[406, 406]) as fake,
        alpaca_feed(tmp_path, fake, symbols=["AAPL"], streams=["trades"]) as (feed, events),
    ):
        await asyncio.wait_for(feed.wait_ready(), 10)
        trade = stock_trade()
        await fake.publish("stocks", trade)
        await wait_for(lambda: len(trade_keys(events, "trades.AAPL")) == 1, what="a trade after the retries")
    failed = [e.detail for e in events if e.type == "connection" and e.detail["state"] == "login_failed"]
    assert [(d["code"], d["fatal"]) for d in failed] == [(406, False), (406, False)]
    assert all(d["retry_in_s"] is not None for d in failed)
    assert fake.auth_attempts == [("stocks", 406), ("stocks", 406), ("stocks", None)]
    assert fake.max_concurrent == {"stocks": 1}


async def test_409_is_fatal_for_its_endpoint_only(tmp_path: Path) -> None:
    async with (
        FakeAlpaca(denied_endpoints={"crypto"}) as fake,
        alpaca_feed(tmp_path, fake, symbols=["AAPL", "ETH/USD"], streams=["trades"]) as (feed, events),
    ):
        await wait_for(lambda: fake.subscribed("stocks", "trades") == {"AAPL"}, what="stocks subscribed")
        await wait_for(lambda: any(e.type == "subscription" for e in events), what="the refusal")
        await asyncio.sleep(0.5)  # a retry, if any, would happen now
        await fake.publish("stocks", stock_trade())
        await wait_for(lambda: len(trade_keys(events, "trades.AAPL")) == 1, what="stocks still flowing")
        assert fake.connections["crypto"] == 1  # no retry against a plan that does not include it
        assert not feed.ready
    refused = [e.detail for e in events if e.type == "subscription" and not e.detail["accepted"]]
    assert len(refused) == 1
    assert refused[0]["code"] == 409 and refused[0]["fatal"] is True
    assert refused[0]["streams"] == ["trades.ETH/USD"]
    assert "insufficient subscription" in refused[0]["msg"]


async def test_wrong_credentials_never_reach_the_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    settings_secret = "not-the-right-secret"
    async with FakeAlpaca(secret="the-right-one") as fake:
        options = {"symbols": ["AAPL"], "streams": ["trades"], "api_secret": settings_secret}
        async with alpaca_feed(tmp_path, fake, **options) as (feed, events):
            await wait_for(
                lambda: sum(1 for _, code in fake.auth_attempts if code == 402) >= 2, what="two 402 refusals"
            )
            assert not feed.ready
            assert settings_secret not in repr(feed.venue().settings)
            assert settings_secret not in repr(feed.venue().pool.options)  # the login frames are hidden
    assert settings_secret not in caplog.text
    assert any(e.type == "connection" and e.detail.get("code") == 402 for e in events)


async def test_no_rotation_overlap_for_a_one_connection_venue(tmp_path: Path) -> None:
    """A rotation due (rotate_after_s elapsed) would open a second connection: Alpaca's is never rotated."""
    async with (
        FakeAlpaca() as fake,
        alpaca_feed(
            tmp_path, fake, symbols=["AAPL"], streams=["trades"], rotate_after_s=0.3, rotation_overlap_s=0.1
        ) as (feed, events),
    ):
        await asyncio.wait_for(feed.wait_ready(), 10)
        assert feed.venue().pool.options.rotate_after_s is None
        await asyncio.sleep(1.0)
        assert fake.connections == {"stocks": 1}
    assert not any(e.type == "connection" and e.detail["state"] == "rotating" for e in events)


async def test_tickstorm_feed_process_on_alpaca(tmp_path: Path) -> None:
    """``tickstorm feed --venue alpaca`` as a real process: credentials from Alpaca's own environment
    variables, a drop healed by the REST window, the journal holding every trade once."""
    out = tmp_path / "events.jsonl"
    async with FakeAlpaca() as fake:
        env = {**os.environ, "APCA_API_KEY_ID": fake.key, "APCA_API_SECRET_KEY": fake.secret}
        args = [
            sys.executable, "-m", "tickstorm", "feed", "--venue", "alpaca", "--symbols", "AAPL,BTC/USD",
            "--streams", "trades,orderbooks", "--ws-url", fake.ws_url, "--rest-url", fake.rest_url,
            "--jsonl", str(out), "--dlq", str(tmp_path / "dlq.sqlite"),
        ]  # fmt: skip
        async with ServiceProcess(args, name="feed", env=env) as proc:
            assert proc.ready["event"] == "ready"
            await wait_for(lambda: fake.subscribed("crypto", "orderbooks") == {"BTC/USD"}, what="subscribed")
            book = {
                "T": "o",
                "S": "BTC/USD",
                "b": [{"p": 1.5, "s": 2.0}],
                "a": [{"p": 1.6, "s": 1.0}],
                "r": True,
            }
            await fake.publish("crypto", {**book, "t": time.time_ns()})
            first = [stock_trade() for _ in range(3)]
            for m in first:
                await fake.publish("stocks", m)
            await asyncio.sleep(0.3)
            await fake.drop()
            await asyncio.sleep(0.2)
            missed = [stock_trade() for _ in range(3)]
            for m in missed:
                await fake.publish("stocks", m)
            await wait_for(
                lambda: (
                    fake.subscribed("stocks", "trades") == {"AAPL"}
                    and fake.subscribed("crypto", "orderbooks") == {"BTC/USD"}
                ),
                timeout=20,
                what="resubscribed",
            )
            last = stock_trade()
            await fake.publish("stocks", last)
            await fake.publish("crypto", {**book, "t": time.time_ns()})
            await wait_for(
                lambda: (
                    out.read_bytes().count(b'"orderbooks.BTC/USD"') >= 2
                    and out.read_bytes().count(b'"trades.AAPL"') >= 7
                ),
                timeout=20,
                what="the journal",
            )
            await asyncio.sleep(0.3)  # a duplicate, if any, would land now
            assert await proc.stop() == 0
        assert fake.max_concurrent == {"stocks": 1, "crypto": 1}
    header, *events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert header["schema"] == "tickstorm.events"
    trades = [e["id"] for e in events if e["type"] == "market" and e["stream"] == "trades.AAPL"]
    assert trades == [m["i"] for m in [*first, *missed, last]]
    assert [e["stream"] for e in events if e["type"] == "gap"] == []  # trades proven; the book has no gap
    book_events = [e for e in events if e["stream"] == "orderbooks.BTC/USD" and e["type"] == "market"]
    assert len(book_events) == 2


async def test_symbols_added_at_runtime_share_the_endpoints_one_connection(tmp_path: Path) -> None:
    async with (
        FakeAlpaca() as fake,
        alpaca_feed(tmp_path, fake, symbols=["AAPL"], streams=["trades"]) as (
            feed,
            events,
        ),
    ):
        await asyncio.wait_for(feed.wait_ready(), 10)
        added = await feed.add_symbols(["msft", "ETH/USD"])
        assert sorted(added) == [
            "cancelErrors.MSFT", "corrections.MSFT", "trades.ETH/USD", "trades.MSFT",
        ]  # fmt: skip
        await wait_for(lambda: fake.subscribed("stocks", "trades") == {"AAPL", "MSFT"}, what="MSFT added")
        await wait_for(lambda: fake.subscribed("crypto", "trades") == {"ETH/USD"}, what="a crypto connection")
        await asyncio.wait_for(feed.wait_ready(), 10)
        await fake.publish("stocks", stock_trade("MSFT"))
        await wait_for(lambda: len(trade_keys(events, "trades.MSFT")) == 1, what="an MSFT trade")
        assert await feed.remove_symbols(["MSFT"]) != []
        await wait_for(lambda: fake.subscribed("stocks", "trades") == {"AAPL"}, what="MSFT removed")
    assert fake.connections == {"stocks": 1, "crypto": 1}


async def test_a_feed_stopped_during_an_outage_reports_the_open_window(tmp_path: Path) -> None:
    """The reconnect never gets through (402 on every login) and the feed is stopped: the outage window
    of every stream is a gap by time without an end, never a silent loss."""
    async with FakeAlpaca() as fake:
        async with alpaca_feed(tmp_path, fake, symbols=["AAPL"], streams=["trades"]) as (feed, events):
            await asyncio.wait_for(feed.wait_ready(), 10)
            await fake.publish("stocks", stock_trade())
            await wait_for(lambda: len(trade_keys(events, "trades.AAPL")) == 1, what="a live trade")
            fake.refuse_logins.extend([402] * 1000)
            await fake.drop()
            await wait_for(lambda: not feed.ready, what="the feed to notice the drop")
            await fake.publish("stocks", stock_trade())  # missed: nobody is connected
            assert not [e for e in events if e.type == "gap"]  # the window is open, not judged yet
        gaps = [e for e in events if e.type == "gap" and e.stream == "trades.AAPL"]
        assert len(gaps) == 1, gaps
        assert gaps[0].detail["from_ns"] is not None and gaps[0].detail["to_ns"] is None
        assert "stopped" in gaps[0].detail["reason"]
