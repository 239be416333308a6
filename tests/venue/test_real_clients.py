"""Acceptance: popular third-party Binance clients connect to the mock with only their URLs changed.

Each client opens the handshake path it uses against the real venue (read from its own source):

* ccxt (``ccxt.pro.binance``) numbers its spot connections: ``/ws/0``, ``/ws/1``, ... — a label, not a
  stream name — and then subscribes over that connection with ``SUBSCRIBE`` (integer ids).
* python-binance (``AsyncClient`` + ``BinanceSocketManager``): ``/ws/<stream>`` for single-stream sockets
  and ``/stream?streams=a/b`` for multiplex sockets; ``AsyncClient.create()`` first calls
  ``/api/v3/ping`` and ``/api/v3/time``.
* binance-connector 3.x (legacy ``SpotWebsocketStreamClient``): bare ``/ws`` or ``/stream`` (with
  ``is_combined=True``), optional ``?timeUnit=``, then ``SUBSCRIBE`` with integer millisecond ids.

Every test runs a real venue on 127.0.0.1, points every URL of the client (REST included) at it, and checks
what the client delivered in its own callbacks or models against what the venue recorded sending.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import orjson
import pytest

from tests.venue.conftest import VenueFactory

pytestmark = [pytest.mark.sdk, pytest.mark.timeout(90)]

STEP_S = 10.0  # bound on every single wait for the client


def _connect_paths(venue: Any) -> list[str]:
    return [e.detail["path"] for e in venue.history.events if e.event == "connect"]


def _rest_paths(venue: Any) -> list[str]:
    return [e.detail["path"] for e in venue.history.events if e.event == "rest"]


async def _wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


# -- ccxt: /ws/<label> -----------------------------------------------------------------------------------


async def test_ccxt_pro_connects_on_ws_label_paths_and_keeps_a_book(venue_factory: VenueFactory) -> None:
    """ccxt's spot streams live on ``/ws/0``, ``/ws/1``...: trades arrive in its trade structures, and its
    own order book (REST snapshot + diffs) equals the venue's true book."""
    import ccxt.pro

    async with venue_factory("spot-btcusdt", speed=10.0) as venue:
        exchange = ccxt.pro.binance(
            {
                # Only the spot exchangeInfo (no futures hosts); no authenticated currency list.
                "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
            }
        )
        exchange.urls["api"]["public"] = f"{venue.rest_url}/api/v3"
        exchange.urls["api"]["ws"]["spot"] = f"{venue.ws_url}/ws"
        try:
            await asyncio.wait_for(exchange.load_markets(), STEP_S)
            venue.start_replay()
            trades: list[dict[str, Any]] = []
            while len(trades) < 50:
                trades += await asyncio.wait_for(exchange.watch_trades("BTC/USDT"), STEP_S)
            # ccxt's book procedure: SUBSCRIBE depth@100ms on the next label, buffer, REST snapshot, apply.
            for _ in range(10):
                await asyncio.wait_for(exchange.watch_order_book("BTC/USDT"), STEP_S)
            # Stall the sender so the venue's true book and ccxt's book describe one instant, then give
            # ccxt the time to apply what is still in flight (its nonce reaches the venue's update id).
            venue.stall(4.0)
            true_id = venue.true_book("BTCUSDT", limit=1)["id"]
            await _wait_until(
                lambda: exchange.orderbooks["BTC/USDT"]["nonce"] >= true_id, 3.0, "ccxt's book to catch up"
            )
            book = exchange.orderbooks["BTC/USDT"]
            nonce, bids, asks = book["nonce"], book["bids"][:100], book["asks"][:100]
            true = venue.true_book("BTCUSDT", limit=100)
        finally:
            await exchange.close()

    assert _connect_paths(venue) == ["/ws/0", "/ws/1"]
    assert _rest_paths(venue) == ["/api/v3/exchangeInfo", "/api/v3/depth"]  # markets, then the book snapshot
    sent = venue.history.ids("btcusdt@trade")
    assert [int(t["id"]) for t in trades] == sent[: len(trades)]
    assert all(t["symbol"] == "BTC/USDT" and t["price"] > 0 and t["amount"] > 0 for t in trades)
    assert nonce == true["id"]
    assert [[p, q] for p, q in bids] == [[float(p), float(q)] for p, q in true["bids"]]
    assert [[p, q] for p, q in asks] == [[float(p), float(q)] for p, q in true["asks"]]


# -- python-binance: /ws/<stream> and /stream?streams= ------------------------------------------------


async def test_python_binance_socket_manager_raw_and_multiplex(
    venue_factory: VenueFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Import from the submodules: binance-connector installs an empty `binance/__init__.py` into the same
    # package, so `from binance import AsyncClient` depends on which distribution was installed last.
    from binance.async_client import AsyncClient
    from binance.ws.streams import BinanceSocketManager

    async with venue_factory("spot-btcusdt", speed=10.0) as venue:
        # The class attribute is formatted with (base_endpoint, tld) in __init__; a URL without `{}` survives.
        # AsyncClient.create() pings /api/v3/ping and reads /api/v3/time: both go to the mock.
        monkeypatch.setattr(AsyncClient, "API_URL", f"{venue.rest_url}/api")
        client = await asyncio.wait_for(AsyncClient.create(), STEP_S)
        raw: list[dict[str, Any]] = []
        combined: list[dict[str, Any]] = []
        try:
            # The default queue (100 undelivered messages) overflows and stops the socket when a busy test
            # machine delays the reader during a x10 burst: the quirk is the client's, not the protocol's.
            bm = BinanceSocketManager(client, max_queue_size=10_000)
            bm.STREAM_URL = f"{venue.ws_url}/"
            streams = ["btcusdt@depth@100ms", "btcusdt@bookTicker"]
            async with bm.trade_socket("BTCUSDT") as trade_ws, bm.multiplex_socket(streams) as multi_ws:
                venue.start_replay()

                async def take(ws: Any, into: list[dict[str, Any]], count: int) -> None:
                    while len(into) < count:
                        into.append(await asyncio.wait_for(ws.recv(), STEP_S))

                await asyncio.gather(take(trade_ws, raw, 40), take(multi_ws, combined, 200))
        finally:
            await client.close_connection()

    assert _rest_paths(venue) == ["/api/v3/ping", "/api/v3/time"]  # what AsyncClient.create() calls
    assert _connect_paths(venue) == [
        "/ws/btcusdt@trade",
        "/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker",
    ]
    assert all(m.get("e") == "trade" and "stream" not in m for m in raw), raw[:3]
    assert [m["t"] for m in raw] == venue.history.ids("btcusdt@trade")[: len(raw)]
    assert {m["stream"] for m in combined} == set(streams)
    diffs = [m["data"] for m in combined if m["stream"] == "btcusdt@depth@100ms"]
    assert diffs and all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(diffs))
    assert [d["u"] for d in diffs] == venue.history.ids("btcusdt@depth@100ms")[: len(diffs)]


# -- binance-connector 3.x (legacy): bare /ws and /stream, SUBSCRIBE ---------------------------------------


class _Inbox:
    """Thread-safe list of what the connector's reader thread passed to ``on_message``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Any] = []

    def on_message(self, _manager: Any, message: str) -> None:
        parsed = orjson.loads(message)
        with self._lock:
            self._items.append(parsed)

    def items(self) -> list[Any]:
        with self._lock:
            return list(self._items)

    def data(self) -> list[Any]:
        return [m for m in self.items() if not ("id" in m and "result" in m)]


async def _stop_legacy(client: Any) -> None:
    """The connector's ``stop()`` (close handshake, join its reader thread), then drop the TCP socket: the
    connector leaves it open after the close handshake, and the venue's shutdown would wait for it."""
    await asyncio.wait_for(asyncio.to_thread(client.stop), STEP_S)
    client.socket_manager.ws.shutdown()


async def test_binance_connector_legacy_stream_client(venue_factory: VenueFactory) -> None:
    from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient

    async with venue_factory("spot-btcusdt", speed=10.0) as venue:
        raw_inbox, combined_inbox = _Inbox(), _Inbox()
        # The connector connects synchronously in its constructor and reads on its own thread: build it
        # off the event loop (the venue runs on this loop). `timeout` bounds its connect and every read.
        raw_client = await asyncio.to_thread(
            SpotWebsocketStreamClient,
            stream_url=venue.ws_url,
            on_message=raw_inbox.on_message,
            timeout=STEP_S,
            time_unit="millisecond",
        )
        try:
            combined_client = await asyncio.to_thread(
                SpotWebsocketStreamClient,
                stream_url=venue.ws_url,
                on_message=combined_inbox.on_message,
                is_combined=True,
                timeout=STEP_S,
            )
            try:
                await asyncio.to_thread(raw_client.trade, symbol="BTCUSDT")
                await asyncio.to_thread(combined_client.diff_book_depth, symbol="BTCUSDT", speed=100)
                await _wait_until(
                    lambda: len(raw_inbox.items()) >= 1 and len(combined_inbox.items()) >= 1,
                    STEP_S,
                    "the SUBSCRIBE replies",
                )
                venue.start_replay()
                await _wait_until(
                    lambda: len(raw_inbox.data()) >= 40 and len(combined_inbox.data()) >= 40,
                    STEP_S,
                    "replayed data on both connections",
                )
            finally:
                await _stop_legacy(combined_client)
        finally:
            await _stop_legacy(raw_client)

    assert _connect_paths(venue) == ["/ws?timeUnit=millisecond", "/stream"]
    raw_reply, combined_reply = raw_inbox.items()[0], combined_inbox.items()[0]
    assert raw_reply["result"] is None and isinstance(raw_reply["id"], int)  # connector ids: time in ms
    assert combined_reply["result"] is None and isinstance(combined_reply["id"], int)
    trades = raw_inbox.data()
    assert all(m["e"] == "trade" for m in trades)
    assert [m["t"] for m in trades] == venue.history.ids("btcusdt@trade")[: len(trades)]
    diffs = combined_inbox.data()
    assert {m["stream"] for m in diffs} == {"btcusdt@depth@100ms"}
    assert [m["data"]["u"] for m in diffs] == venue.history.ids("btcusdt@depth@100ms")[: len(diffs)]
