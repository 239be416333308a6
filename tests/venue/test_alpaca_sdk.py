"""Acceptance: alpaca-py, Alpaca's official SDK, against the mock Alpaca venue with only ``url_override``
changed (and ``raw_data=False``): every stream message type arrives in alpaca-py's own models, and the
historical clients page through the recovery endpoints. Each stream runs its own event loop in a thread."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alpaca.data.enums import DataFeed
from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient
from alpaca.data.live import CryptoDataStream, NewsDataStream, OptionDataStream, StockDataStream
from alpaca.data.models import Bar, News, Orderbook, Quote, Trade, TradeCancel, TradeCorrection, TradingStatus
from alpaca.data.requests import (
    CryptoLatestOrderbookRequest,
    CryptoTradesRequest,
    StockBarsRequest,
    StockQuotesRequest,
    StockTradesRequest,
)
from alpaca.data.timeframe import TimeFrame

from tests.venue.alpaca_support import alpaca_venue, collector, running_stream, wait_for

pytestmark = [pytest.mark.sdk, pytest.mark.timeout(90)]
KEY, SECRET = "PKTEST", "secret"


def _connected(venue: Any, streams: int = 1) -> bool:
    conns = venue.state()["connections"].values()
    return sum(1 for c in conns if c["authenticated"] and c["streams"]) >= streams


async def test_stock_stream_every_message_type() -> None:
    async with alpaca_venue() as venue:
        stream = StockDataStream(
            KEY, SECRET, feed=DataFeed.IEX, url_override=f"{venue.ws_url}/v2/iex", raw_data=False
        )
        got: dict[str, list[Any]] = {k: [] for k in ("t", "q", "b", "u", "d", "s", "l", "c", "x")}
        stream.subscribe_trades(collector(got["t"]), "IBM")
        stream.subscribe_quotes(collector(got["q"]), "IBM")
        stream.subscribe_bars(collector(got["b"]), "*")
        stream.subscribe_updated_bars(collector(got["u"]), "IBM")
        stream.subscribe_daily_bars(collector(got["d"]), "IBM")
        stream.subscribe_trading_statuses(collector(got["s"]), "IBM")
        stream._subscribe(collector(got["l"]), ("IBM",), stream._handlers["lulds"])  # no public method
        stream.register_trade_corrections(collector(got["c"]))
        stream.register_trade_cancels(collector(got["x"]))
        async with running_stream(stream):
            await wait_for(lambda: _connected(venue), what="alpaca-py subscribed")
            subs = next(iter(venue.state()["connections"].values()))["streams"]
            assert {"trades.IBM", "corrections.IBM", "cancelErrors.IBM", "bars.BAC", "lulds.IBM"} <= set(subs)
            venue.start_replay()
            await venue.wait_replay_done(30)
            await wait_for(lambda: len(got["t"]) == len(venue.market.trades["IBM"].items), what="all trades")
            await venue.venue_fault("halt", symbol="IBM", code="H", reason="T12")
            await venue.venue_fault("luld", symbol="IBM", up=200.0, down=150.0)
            await venue.venue_fault("corrections", symbol="IBM", count=2, cancels=1)
            await wait_for(
                lambda: got["s"] and len(got["l"]) >= 2 and got["c"] and got["x"] and got["u"],
                what="fault messages",
            )
        trades = got["t"]
        assert all(isinstance(t, Trade) and t.symbol == "IBM" for t in trades)
        assert len({(t.exchange, t.id) for t in trades}) == len(trades)  # unique per (exchange, id)
        assert all(isinstance(q, Quote) for q in got["q"])
        crossed = sum(1 for q in got["q"] if q.bid_price > q.ask_price)
        assert crossed <= len(got["q"]) // 100  # the recorded NBBO is crossed in a few instants only
        assert {b.symbol for b in got["b"]} == {"IBM", "BAC"} and all(isinstance(b, Bar) for b in got["b"])
        assert all(isinstance(b, Bar) and b.trade_count and b.vwap for b in got["b"] + got["d"] + got["u"])
        status = got["s"][0]
        assert isinstance(status, TradingStatus) and status.status_code == "H"
        assert status.reason_code == "T12"
        assert got["l"][0]["T"] == "l" and got["l"][-1]["u"] == 200.0  # alpaca-py passes LULDs as dicts
        correction = got["c"][0]
        assert isinstance(correction, TradeCorrection)
        ids = {(t.exchange, t.id) for t in trades}
        assert (correction.exchange, correction.original_id) in ids
        cancel = got["x"][0]
        assert isinstance(cancel, TradeCancel) and (cancel.exchange, cancel.id) in ids


async def test_crypto_stream_trades_quotes_bars_and_books() -> None:
    async with alpaca_venue() as venue:
        stream = CryptoDataStream(
            KEY, SECRET, url_override=f"{venue.ws_url}/v1beta3/crypto/us", raw_data=False
        )
        got: dict[str, list[Any]] = {k: [] for k in ("t", "q", "b", "d", "o")}
        stream.subscribe_trades(collector(got["t"]), "BTC/USD")
        stream.subscribe_quotes(collector(got["q"]), "BTC/USD")
        stream.subscribe_bars(collector(got["b"]), "BTC/USD")
        stream.subscribe_daily_bars(collector(got["d"]), "BTC/USD")
        stream.subscribe_orderbooks(collector(got["o"]), "BTC/USD")
        async with running_stream(stream):
            await wait_for(lambda: _connected(venue), what="alpaca-py subscribed")
            venue.set_speed(20.0)
            venue.start_replay()
            await wait_for(lambda: all(len(v) > 1 for v in got.values()), timeout=30, what="crypto data")
        assert all(isinstance(t, Trade) and t.symbol == "BTC/USD" and t.size > 0 for t in got["t"])
        assert all(isinstance(q, Quote) for q in got["q"])
        assert all(isinstance(b, Bar) for b in got["b"] + got["d"])
        books = got["o"]
        assert all(isinstance(b, Orderbook) for b in books)
        assert books[0].reset is True and len(books[0].bids) > 100  # the whole book first
        assert not any(b.reset for b in books[1:])


async def test_option_stream_msgpack_trades_and_quotes() -> None:
    async with alpaca_venue() as venue:
        stream = OptionDataStream(
            KEY, SECRET, url_override=f"{venue.ws_url}/v1beta1/indicative", raw_data=False
        )
        trades: list[Any] = []
        quotes: list[Any] = []
        stream.subscribe_trades(collector(trades), "*")
        stream.subscribe_quotes(collector(quotes), "SPY230901C00430000", "SPY230901P00470000")
        async with running_stream(stream):
            await wait_for(lambda: _connected(venue), what="alpaca-py subscribed")
            venue.start_replay()
            await venue.wait_replay_done(30)
            published = [
                m for s, series in venue.market.trades.items() if s.startswith("SPY") for m in series.items
            ]
            await wait_for(
                lambda: len(trades) == len(published) == 17 and len(quotes) == 20, what="option data"
            )
        assert all(isinstance(t, Trade) and t.symbol.startswith("SPY2309") for t in trades)
        assert {q.symbol for q in quotes} == {"SPY230901C00430000", "SPY230901P00470000"}


async def test_news_stream() -> None:
    async with alpaca_venue() as venue:
        stream = NewsDataStream(KEY, SECRET, url_override=f"{venue.ws_url}/v1beta1/news", raw_data=False)
        news: list[Any] = []
        stream.subscribe_news(collector(news), "*")
        async with running_stream(stream):
            await wait_for(lambda: _connected(venue), what="alpaca-py subscribed")
            venue.start_replay()
            await wait_for(lambda: len(news) == 2, timeout=30, what="both news items")
        assert all(isinstance(n, News) for n in news)
        by_source = {n.source: n for n in news}
        assert set(by_source) == {"marketwatch", "cnbc.com"}
        assert by_source["marketwatch"].created_at == datetime(2022, 4, 28, 17, 8, tzinfo=UTC)
        assert "NFLX" in by_source["marketwatch"].symbols


async def test_historical_clients_page_through_what_was_published() -> None:
    async with alpaca_venue(extra={"rest_page_max": 500}) as venue:
        venue.start_replay()
        await venue.wait_replay_done(30)
        stocks = StockHistoricalDataClient(KEY, SECRET, url_override=venue.rest_url)
        start = datetime.now(UTC) - timedelta(hours=1)
        request = StockTradesRequest(
            symbol_or_symbols=["IBM", "BAC"], start=start, limit=3000, feed=DataFeed.IEX
        )
        trades = (await asyncio.to_thread(stocks.get_stock_trades, request)).data
        published_ibm = venue.market.trades["IBM"].items
        # 3000 over pages of 500: IBM first (in the order asked), the rest from BAC.
        assert len(trades["IBM"]) == min(3000, len(published_ibm))
        assert [t.id for t in trades["IBM"]] == [m["i"] for m in published_ibm][: len(trades["IBM"])]
        assert len(trades["IBM"]) + len(trades.get("BAC", [])) == 3000
        assert [e.detail["status"] for e in venue.history.events if e.event == "rest"] == [200] * 6
        quotes = (
            await asyncio.to_thread(
                stocks.get_stock_quotes, StockQuotesRequest(symbol_or_symbols="BAC", start=start, limit=700)
            )
        ).data
        assert len(quotes["BAC"]) == 700
        bars = (
            await asyncio.to_thread(
                stocks.get_stock_bars,
                StockBarsRequest(symbol_or_symbols=["IBM"], start=start, timeframe=TimeFrame.Minute),
            )
        ).data
        assert bars["IBM"] and all(b.trade_count for b in bars["IBM"])
        crypto = CryptoHistoricalDataClient(KEY, SECRET, url_override=venue.rest_url)
        btc = (
            await asyncio.to_thread(
                crypto.get_crypto_trades,
                CryptoTradesRequest(symbol_or_symbols="BTC/USD", start=start, limit=1200),
            )
        ).data["BTC/USD"]
        assert [t.id for t in btc] == [m["i"] for m in venue.market.trades["BTC/USD"].items[:1200]]
        book = (
            await asyncio.to_thread(
                crypto.get_crypto_latest_orderbook, CryptoLatestOrderbookRequest(symbol_or_symbols="BTC/USD")
            )
        )["BTC/USD"]
        assert isinstance(book, Orderbook) and book.bids[0].price < book.asks[0].price
