"""The Alpaca venue over real sockets: JSON and msgpack sessions, permessage-deflate, header auth, the
one-connection limit, the auth deadline, the options msgpack rule, REST auth and rate limits, and Alpaca's
faults through the control API (RemoteVenue.venue_fault)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgpack
import orjson
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mock_venues.alpaca.protocol import Market
from mock_venues.alpaca.server import AlpacaVenue
from mock_venues.base.control_client import ControlError, RemoteVenue
from tests.venue.alpaca_support import alpaca_venue, connect, recv, recv_until, send, wait_for
from tests.venue.conftest import running_venue

pytestmark = pytest.mark.timeout(60)
AUTH = {"action": "auth", "key": "key", "secret": "secret"}


async def _login(ws: Any, mp: bool = False) -> None:
    assert await recv(ws) == [{"T": "success", "msg": "connected"}]
    await send(ws, AUTH, mp)
    assert await recv(ws) == [{"T": "success", "msg": "authenticated"}]


@pytest.mark.parametrize("mp", [False, True], ids=["json", "msgpack"])
async def test_session_in_both_encodings(mp: bool) -> None:
    async with alpaca_venue() as venue, connect(f"{venue.ws_url}/v2/sip", mp) as ws:
        await _login(ws, mp)
        await send(ws, {"action": "subscribe", "trades": ["IBM"], "quotes": ["IBM"]}, mp)
        sub = await recv(ws)
        assert sub[0]["T"] == "subscription" and sub[0]["corrections"] == ["IBM"]
        venue.start_replay()
        trade = await recv_until(ws, lambda m: m["T"] == "t")
        if mp:
            assert isinstance(trade["t"], msgpack.Timestamp)
        else:
            assert isinstance(trade["t"], str) and trade["t"].endswith("Z") and len(trade["t"]) == 30
        assert set(trade) == {"T", "S", "i", "x", "p", "s", "c", "z", "t"}
        quote = await recv_until(ws, lambda m: m["T"] == "q")
        assert set(quote) == {"T", "S", "bx", "bp", "bs", "ax", "ap", "as", "c", "z", "t"}


async def test_client_may_send_msgpack_on_a_json_session_and_errors_have_alpacas_texts() -> None:
    async with alpaca_venue() as venue, connect(f"{venue.ws_url}/v2/iex") as ws:
        assert await recv(ws) == [{"T": "success", "msg": "connected"}]
        await send(ws, {"action": "subscribe", "trades": ["IBM"]})
        assert await recv(ws) == [{"T": "error", "code": 401, "msg": "not authenticated"}]
        await ws.send(msgpack.packb(AUTH))
        assert await recv(ws) == [{"T": "success", "msg": "authenticated"}]
        await send(ws, AUTH)
        assert await recv(ws) == [{"T": "error", "code": 403, "msg": "already authenticated"}]
        await ws.send("{nope")
        assert await recv(ws) == [{"T": "error", "code": 400, "msg": "invalid syntax"}]
        await send(ws, {"action": "subscribe", "orderbooks": ["IBM"]})
        assert await recv(ws) == [
            {"T": "error", "code": 410, "msg": "invalid subscribe action for this feed"}
        ]
        await send(ws, {"action": "subscribe", "trades": [f"S{i}" for i in range(31)]})
        assert await recv(ws) == [{"T": "error", "code": 405, "msg": "symbol limit exceeded"}]


async def test_permessage_deflate_is_negotiated() -> None:
    async with alpaca_venue() as venue:
        async with connect(f"{venue.ws_url}/v1beta3/crypto/us", compression="deflate") as ws:
            assert ws.response is not None
            assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
            await _login(ws)
            await send(ws, {"action": "subscribe", "trades": ["BTC/USD"], "orderbooks": ["BTC/USD"]})
            assert (await recv(ws))[0]["orderbooks"] == ["BTC/USD"]
            book = await recv_until(ws, lambda m: m["T"] == "o")
            assert book["r"] is True and book["b"] and book["a"]  # the whole book first
            venue.start_replay()
            trade = await recv_until(ws, lambda m: m["T"] == "t")
            assert trade["S"] == "BTC/USD" and trade["tks"] in ("B", "S")


async def test_header_auth_and_the_one_connection_limit() -> None:
    headers = {"APCA-API-KEY-ID": "key", "APCA-API-SECRET-KEY": "secret"}
    async with alpaca_venue() as venue:
        async with connect(f"{venue.ws_url}/v2/iex", additional_headers=headers) as first:
            assert await recv(first) == [{"T": "success", "msg": "connected"}]
            assert await recv(first) == [{"T": "success", "msg": "authenticated"}]
            async with connect(f"{venue.ws_url}/v2/iex") as second:
                assert await recv(second) == [{"T": "success", "msg": "connected"}]
                await send(second, AUTH)
                assert await recv(second) == [{"T": "error", "code": 406, "msg": "connection limit exceeded"}]
                # The socket stays open (the Go SDK retries auth on it); another endpoint is another slot.
                await send(second, {"action": "subscribe", "trades": ["IBM"]})
                assert (await recv(second))[0]["code"] == 401
            async with connect(f"{venue.ws_url}/v1beta1/news") as news:
                await _login(news)
        async with connect(f"{venue.ws_url}/v2/iex") as third:  # the first one closed: the slot is free
            await _login(third)


async def test_auth_deadline_closes_with_404() -> None:
    async with alpaca_venue(extra={"auth_timeout_s": 0.3}) as venue, connect(f"{venue.ws_url}/v2/iex") as ws:
        assert await recv(ws) == [{"T": "success", "msg": "connected"}]
        assert await recv(ws) == [{"T": "error", "code": 404, "msg": "auth timeout"}]
        with pytest.raises(ConnectionClosed):
            await recv(ws)


async def test_options_without_msgpack_get_412_and_unknown_paths_404() -> None:
    async with alpaca_venue() as venue:
        async with connect(f"{venue.ws_url}/v1beta1/opra") as ws:
            assert await recv(ws) == [
                {"T": "error", "code": 412, "msg": "option messages are only available in MsgPack format"}
            ]
            with pytest.raises(ConnectionClosed):
                await recv(ws)
        async with connect(f"{venue.ws_url}/v1beta1/opra", True) as ws:
            await _login(ws, True)
            await send(ws, {"action": "subscribe", "quotes": ["*"]}, True)
            assert await recv(ws) == [
                {"T": "error", "code": 413, "msg": "star subscription is not allowed for option quotes"}
            ]
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"{venue.ws_url}/v2/nasdaq"):
                pass
        assert info.value.response.status_code == 404


async def test_auth_faults_406_402_409_through_the_control_api() -> None:
    async with alpaca_venue() as venue, RemoteVenue(venue.control_url) as remote:
        assert (await remote.venue_fault("connection_limit", count=1)) == {
            "kind": "connection_limit",
            "code": 406,
            "count": 1,
        }
        await remote.venue_fault("auth_failure", count=1)
        await remote.venue_fault("insufficient_subscription", count=1)
        expected = [
            (402, "auth failed", True),
            (409, "insufficient subscription", True),
            (406, "connection limit exceeded", False),
        ]
        for code, msg, closes in expected:
            async with connect(f"{venue.ws_url}/v2/sip") as ws:
                await recv(ws)
                await send(ws, AUTH)
                assert await recv(ws) == [{"T": "error", "code": code, "msg": msg}]
                if closes:
                    with pytest.raises(ConnectionClosed):
                        await recv(ws)
        async with connect(f"{venue.ws_url}/v2/sip") as ws:  # the faults are used up
            await _login(ws)
        with pytest.raises(ControlError, match="unknown venue fault"):
            await remote.venue_fault("nope")
        with pytest.raises(ControlError, match="count must be a positive integer"):
            await remote.venue_fault("auth_failure", count=0)
        events = [e for e in (await remote.history()).events if e.event == "venue_fault"]
        assert [e.detail["kind"] for e in events] == [
            "connection_limit",
            "auth_failure",
            "insufficient_subscription",
        ]


async def test_slow_client_fault_sends_407_and_closes() -> None:
    async with alpaca_venue() as venue, RemoteVenue(venue.control_url) as remote:
        async with connect(f"{venue.ws_url}/v2/iex") as ws:
            await _login(ws)
            state = await remote.state()
            (conn_id,) = [int(c) for c in state["connections"]]
            result = await remote.venue_fault("slow_client", connection=conn_id)
            assert result == {"kind": "slow_client", "connections": [conn_id]}
            assert await recv(ws) == [{"T": "error", "code": 407, "msg": "slow client"}]
            with pytest.raises(ConnectionClosed):
                await recv(ws)
            assert ws.close_code == 1008


async def test_slow_reader_overflowing_the_send_buffer_gets_407() -> None:
    async with alpaca_venue(speed=100.0, extra={"slow_client_bytes": 64 * 1024}) as venue:
        async with connect(f"{venue.ws_url}/v1beta3/crypto/us", max_queue=1) as ws:
            await _login(ws)
            await send(
                ws,
                {
                    "action": "subscribe",
                    "orderbooks": ["BTC/USD"],
                    "quotes": ["BTC/USD"],
                    "trades": ["BTC/USD"],
                },
            )
            venue.start_replay()
            await wait_for(
                lambda: any(e.event == "slow_client_closed" for e in venue.history.events),
                timeout=30,
                what="slow client cut",
            )
            seen: list[dict[str, Any]] = []
            with pytest.raises(ConnectionClosed):
                while True:
                    seen.extend(await recv(ws, 10))
            assert seen[-1] == {"T": "error", "code": 407, "msg": "slow client"}


async def test_correction_burst_halt_and_luld_reach_subscribers() -> None:
    async with alpaca_venue() as venue, RemoteVenue(venue.control_url) as remote:
        async with connect(f"{venue.ws_url}/v2/iex") as ws:
            await _login(ws)
            await send(
                ws,
                {
                    "action": "subscribe",
                    "trades": ["IBM"],
                    "statuses": ["IBM"],
                    "lulds": ["IBM"],
                    "updatedBars": ["IBM"],
                },
            )
            await recv(ws)
            venue.start_replay()
            await venue.wait_replay_done(30)
            trades: dict[tuple[str, int], dict[str, Any]] = {}
            while len(trades) < len(venue.market.trades["IBM"].items):
                for m in await recv(ws):
                    if m["T"] == "t":
                        trades[(m["x"], m["i"])] = m
            burst = await remote.venue_fault("corrections", symbol="IBM", count=3, cancels=2)
            assert len(burst["corrected"]) == 3 and len(burst["cancelled"]) == 2
            got = [await recv_until(ws, lambda m: m["T"] in "cx") for _ in range(5)]
            corrections = [m for m in got if m["T"] == "c"]
            cancels = [m for m in got if m["T"] == "x"]
            assert len(corrections) == 3 and len(cancels) == 2
            for c in corrections:
                original = trades[(c["x"], c["oi"])]
                assert (c["op"], c["os"], c["oc"]) == (original["p"], original["s"], original["c"])
                assert c["ci"] != c["oi"] and c["cp"] != c["op"]
            assert all((x["x"], x["i"]) in trades and x["a"] == "C" for x in cancels)
            await remote.venue_fault("halt", symbol="IBM", code="H", reason="T12", duration_s=0.2)
            halt = await recv_until(ws, lambda m: m["T"] == "s")
            assert (halt["sc"], halt["sm"], halt["rc"]) == ("H", "Trading Halt", "T12")
            resume = await recv_until(ws, lambda m: m["T"] == "s")
            assert resume["sc"] == "T"
            band = await remote.venue_fault("luld", symbol="IBM", up=190.5, down=172.25)
            assert band["up"] == 190.5
            luld = await recv_until(ws, lambda m: m["T"] == "l" and m["u"] == 190.5)
            assert luld["d"] == 172.25 and luld["i"] == "B"
        timeline = await remote.timeline()
        assert len(timeline.ids("corrections.IBM")) == 3 and len(timeline.ids("cancelErrors.IBM")) == 2
        kinds = [e.detail["kind"] for e in (await remote.history()).events if e.event == "venue_fault"]
        assert kinds == ["corrections", "halt", "resume", "luld"]


async def test_rest_auth_errors_rate_limit_and_single_symbol_trades() -> None:
    async with alpaca_venue(extra={"rest_rate_per_minute": 4}) as venue:
        venue.rest_state.clock = lambda: 1_800_000_030.0  # one minute window for the whole test
        venue.start_replay()
        await venue.wait_replay_done(30)
        async with aiohttp.ClientSession() as http:
            url = f"{venue.rest_url}/v2/stocks/IBM/trades"
            async with http.get(url) as resp:
                assert resp.status == 401 and await resp.json() == {"message": "unauthorized."}
            venue.keys = {"key": "secret"}
            async with http.get(
                url, headers={"APCA-API-KEY-ID": "key", "APCA-API-SECRET-KEY": "bad"}
            ) as resp:
                assert resp.status == 403 and await resp.json() == {"message": "forbidden."}
            headers = {"APCA-API-KEY-ID": "key", "APCA-API-SECRET-KEY": "secret"}
            async with http.get(url, headers=headers, params={"limit": "5"}) as resp:
                body = orjson.loads(await resp.read())
                assert resp.status == 200 and body["symbol"] == "IBM" and len(body["trades"]) == 5
                assert body["next_page_token"] and resp.headers["X-RateLimit-Limit"] == "4"
                assert resp.headers["X-RateLimit-Remaining"] == "3"
            token = body["next_page_token"]
            async with http.get(url, headers=headers, params={"limit": "5", "page_token": token}) as resp:
                page2 = orjson.loads(await resp.read())["trades"]
            published = venue.market.trades["IBM"].items
            assert [t["i"] for t in body["trades"] + page2] == [m["i"] for m in published[:10]]
            async with http.get(url, headers=headers, params={"limit": "0"}) as resp:
                assert resp.status == 400
            crypto_on_stocks = {"symbols": "BTC/USD,IBM", "limit": "1"}
            async with http.get(
                f"{venue.rest_url}/v2/stocks/trades", headers=headers, params=crypto_on_stocks
            ) as r:
                assert list((await r.json())["trades"]) == ["IBM"]  # a crypto symbol is no stock
            async with http.get(url, headers=headers) as resp:
                assert resp.status == 429 and await resp.json() == {"message": "too many requests."}
                assert resp.headers["X-RateLimit-Remaining"] == "0"
                assert resp.headers["X-RateLimit-Reset"] == "1800000060"  # the end of the pinned minute


async def test_binance_keeps_compression_off_and_has_no_venue_faults() -> None:
    async with running_venue() as venue, RemoteVenue(venue.control_url) as remote:
        async with connect(f"{venue.ws_url}/ws", compression="deflate") as ws:
            assert ws.response is not None
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
        with pytest.raises(ControlError, match="400 the binance-spot venue has no venue faults"):
            await remote.venue_fault("halt", symbol="BTCUSDT")


async def test_reference_client_reads_the_keys_the_venue_sent() -> None:
    async with alpaca_venue() as venue:
        client = AlpacaVenue.reference_client(venue.ws_url, ["trades.IBM", "trades.BAC", "quotes.IBM"])
        assert client.url.endswith("/v2/sip")
        async with connect(client.url) as ws:
            for frame in client.subscribe:
                await ws.send(frame)
            await wait_for(lambda: bool(venue.state()["connections"]), what="reference client")
            await asyncio.sleep(0.2)
            venue.start_replay()
            await venue.wait_replay_done(30)
            with pytest.raises(TimeoutError):
                while True:
                    client.on_frame(await asyncio.wait_for(ws.recv(decode=False), 1.0), 0)
        for stream in ("trades.IBM", "trades.BAC"):
            assert client.received[stream] == venue.history.ids(stream)
        # Quotes are keyed by the venue's counters, which no frame carries: counted, not keyed.
        assert "quotes.IBM" not in client.received
        assert client.counted["quotes.IBM"] == len(venue.history.ids("quotes.IBM")) > 0
        crypto = AlpacaVenue.reference_client(venue.ws_url, ["trades.BTC/USD"])
        assert crypto.url.endswith("/v1beta3/crypto/us")


def test_reference_clients_are_one_per_endpoint_and_options_read_msgpack() -> None:
    streams = ["trades.IBM", "quotes.BTC/USD", "orderbooks.BTC/USD", "trades.SPY230901C00470000", "news.*"]
    clients = AlpacaVenue.reference_clients("ws://127.0.0.1:1", streams)
    paths = sorted(c.url.removeprefix("ws://127.0.0.1:1") for c in clients)
    assert paths == ["/v1beta1/news", "/v1beta1/opra", "/v1beta3/crypto/us", "/v2/sip"]
    (options,) = [c for c in clients if c.url.endswith("/v1beta1/opra")]
    assert options.headers == {"Content-Type": "application/msgpack"}
    frame = msgpack.packb(
        [
            {"T": "t", "S": "SPY230901C00470000", "i": 7, "x": "N", "p": 1.5, "s": 1},
            {"T": "q", "S": "SPY230901C00470000", "bp": 1.4, "ap": 1.6},
            {"T": "success", "msg": "authenticated"},
        ]
    )
    options.on_frame(frame, 1)
    assert options.received == {"trades.SPY230901C00470000": [ord("N") * 10**12 + 7]}
    assert options.counted == {"quotes.SPY230901C00470000": 1}
    (crypto,) = [c for c in clients if c.url.endswith("/v1beta3/crypto/us")]
    book = {"T": "o", "S": "BTC/USD", "b": [], "a": []}
    crypto.on_frame(orjson.dumps([{**book, "r": True}, book]), 1)  # the subscribe snapshot is the session's
    assert crypto.counted == {"orderbooks.BTC/USD": 1}


async def test_news_go_to_sessions_whose_symbols_match_and_only_those_are_recorded() -> None:
    async with alpaca_venue() as venue, connect(f"{venue.ws_url}/v1beta1/news", True) as ws:
        await _login(ws, True)
        await send(ws, {"action": "subscribe", "news": ["TSN"]}, True)
        assert await recv(ws) == [{"T": "subscription", "news": ["TSN"]}]
        venue.start_replay()
        item = await recv_until(ws, lambda m: m["T"] == "n")
        assert item["source"] == "marketwatch" and "TSN" in item["symbols"]
        assert isinstance(item["created_at"], msgpack.Timestamp)
        await venue.wait_replay_done(30)
        (conn_id,) = venue.sessions
        assert venue.history.ids("news.*", connection=conn_id) == [1]
        assert venue.timeline.ids("news.*") == [1, 2]


async def test_fanout_clones_are_subscribable() -> None:
    async with alpaca_venue(fanout=2) as venue, connect(f"{venue.ws_url}/v2/iex") as ws:
        await _login(ws)
        await send(ws, {"action": "subscribe", "trades": ["*"]})
        assert (await recv(ws))[0]["trades"] == ["*"]
        assert venue.symbols_of(Market.STOCKS, "trades") == ["BAC", "BACF001", "IBM", "IBMF001"]
        assert "trades.IBMF001" in venue.source.streams and "news.*" in venue.source.streams
        venue.start_replay()
        clone = await recv_until(ws, lambda m: m["T"] == "t" and m["S"] == "IBMF001")
        assert clone["x"] and clone["i"] >= 1


async def test_the_true_book_is_what_a_client_keeps_from_the_reset_and_the_diffs() -> None:
    async with alpaca_venue() as venue, connect(f"{venue.ws_url}/v1beta3/crypto/us") as ws:
        await _login(ws)
        await send(ws, {"action": "subscribe", "orderbooks": ["BTC/USD"]})
        await recv_until(ws, lambda m: m["T"] == "subscription")
        bids: dict[float, float] = {}
        asks: dict[float, float] = {}
        venue.start_replay()
        await venue.wait_replay_done(60)
        with pytest.raises(TimeoutError):
            while True:
                for m in await recv(ws, 1.0):
                    if m.get("r"):
                        bids.clear()
                        asks.clear()
                    for side, levels in ((bids, m["b"]), (asks, m["a"])):
                        for level in levels:
                            if level["s"]:
                                side[level["p"]] = level["s"]
                            else:
                                side.pop(level["p"], None)
        truth = venue.true_book("BTC/USD")
        assert truth["id"] is None and len(truth["bids"]) > 100
        assert [[float(p), float(s)] for p, s in truth["bids"]] == [
            list(kv) for kv in sorted(bids.items())[::-1]
        ]
        assert [[float(p), float(s)] for p, s in truth["asks"]] == [list(kv) for kv in sorted(asks.items())]
        with pytest.raises(KeyError):
            venue.true_book("IBM")  # stocks have quotes, not books
