"""The venue's WebSocket side, in process on loopback: paths, control protocol, limits, ids, books."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp
import orjson
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from feed.binance_spot.book_sync import BookSync, Step
from mock_venues.base.history import SendFlag
from tests.venue.conftest import VenueFactory, collect_until_done, connect, control, recv_json

pytestmark = pytest.mark.timeout(60)

NKN_DEPTH = "nknusdt@depth@100ms"
NKN_TICKER = "nknusdt@bookTicker"


def ids_of(frames: list[Any], stream: str | None = None) -> list[int]:
    out = []
    for f in frames:
        data = f["data"] if "stream" in f else f
        if stream is not None and f.get("stream") != stream:
            continue
        out.append(data["u"] if "u" in data else data.get("t", data.get("a")))
    return out


async def test_combined_stream_delivers_every_recorded_id_in_order(venue_factory: VenueFactory) -> None:
    async with (
        venue_factory() as venue,
        connect(f"{venue.ws_url}/stream?streams={NKN_DEPTH}/{NKN_TICKER}") as ws,
    ):
        await asyncio.sleep(0.05)
        venue.start_replay()
        frames = await collect_until_done(venue, ws)
    assert {f["stream"] for f in frames} == {NKN_DEPTH, NKN_TICKER}
    depth_ids = ids_of(frames, NKN_DEPTH)
    assert len(depth_ids) == 150  # every recorded NKNUSDT diff (STATS.md)
    assert depth_ids == venue.history.ids(NKN_DEPTH)
    first = [f["data"] for f in frames if f["stream"] == NKN_DEPTH]
    assert first[0]["U"] == 499869750 and first[-1]["u"] == 499870179
    assert all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(first))
    assert len(ids_of(frames, NKN_TICKER)) == 74


async def test_raw_stream_is_unwrapped_and_follows_the_schema(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, connect(f"{venue.ws_url}/ws/{NKN_DEPTH}") as ws:
        await asyncio.sleep(0.05)
        venue.start_replay()
        frames = await collect_until_done(venue, ws)
    assert frames and all("stream" not in f for f in frames)
    for diff in frames:
        assert diff["e"] == "depthUpdate" and diff["s"] == "NKNUSDT"
        assert isinstance(diff["E"], int) and isinstance(diff["U"], int)
        assert all(
            len(level) == 2 and all(isinstance(x, str) for x in level) for level in diff["b"] + diff["a"]
        )


async def test_depth_alias_is_fed_by_the_recorded_diffs(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, connect(f"{venue.ws_url}/ws/nknusdt@depth") as ws:
        await asyncio.sleep(0.05)
        venue.start_replay()
        frames = await collect_until_done(venue, ws)
    assert len(frames) == 150


async def test_live_subscribe_list_properties_and_unsubscribe(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, connect(f"{venue.ws_url}/ws") as ws:
        assert await control(ws, "SUBSCRIBE", [NKN_DEPTH, NKN_TICKER], 1) == {"result": None, "id": 1}
        uuid = "3f1c6e0a-7a1b-4c55-9a55-0c1b2d3e4f5a"
        reply = await control(ws, "LIST_SUBSCRIPTIONS", None, uuid)
        assert reply == {"result": [NKN_DEPTH, NKN_TICKER], "id": uuid}
        assert await control(ws, "GET_PROPERTY", ["combined"], 3) == {"result": False, "id": 3}
        await asyncio.sleep(1.05)  # Binance allows 5 incoming messages per second
        assert await control(ws, "SET_PROPERTY", ["combined", True], 4) == {"result": None, "id": 4}
        assert await control(ws, "GET_PROPERTY", ["combined"], 5) == {"result": True, "id": 5}
        assert await control(ws, "UNSUBSCRIBE", [NKN_TICKER], 6) == {"result": None, "id": 6}
        venue.start_replay()
        frames = await collect_until_done(venue, ws)
    assert {f["stream"] for f in frames} == {NKN_DEPTH}  # combined after SET_PROPERTY, ticker gone
    assert len(frames) == 150


async def test_bad_control_messages_get_binance_errors_and_others_keep_streaming(
    venue_factory: VenueFactory,
) -> None:
    async with venue_factory() as venue:
        async with connect(f"{venue.ws_url}/ws") as bad, connect(f"{venue.ws_url}/ws/{NKN_DEPTH}") as good:
            await bad.send("{not json")
            reply = await recv_json(bad)
            assert reply["id"] is None and reply["error"]["code"] == 3
            await asyncio.sleep(1.05)  # stay under 5 messages per second
            reply = await control(bad, "EXPLODE", [], 7)
            assert reply["error"]["code"] == 2 and reply["id"] == 7
            reply = await control(bad, "SUBSCRIBE", ["BTC USDT@trade"], 8)
            assert reply["error"]["code"] == 2 and reply["id"] == 8
            venue.start_replay()
            frames = await collect_until_done(venue, good)
            assert len(frames) == 150


async def test_more_than_five_messages_a_second_closes_with_1008(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, connect(f"{venue.ws_url}/ws") as ws:
        with pytest.raises(ConnectionClosed) as info:
            for i in range(10):
                await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}).decode())
            for _ in range(20):
                await recv_json(ws)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        assert info.value.rcvd.reason == "Too many requests"
    assert any(e.event == "rate_limited" for e in venue.history.events)


async def test_stream_limit_per_connection(venue_factory: VenueFactory) -> None:
    async with venue_factory(max_streams_per_connection=3) as venue:
        async with connect(f"{venue.ws_url}/ws") as ws:
            reply = await control(ws, "SUBSCRIBE", [f"s{i}usdt@trade" for i in range(4)], 1)
            assert reply["error"]["code"] == 2 and "too many streams" in reply["error"]["msg"]
            assert (await control(ws, "LIST_SUBSCRIPTIONS", None, 2))["result"] == []
        with pytest.raises(InvalidStatus) as info:
            async with connect(
                f"{venue.ws_url}/stream?streams=" + "/".join(f"s{i}usdt@trade" for i in range(4))
            ):
                pass
        assert info.value.response.status_code == 400


async def test_connection_attempt_limit(venue_factory: VenueFactory) -> None:
    async with venue_factory(max_connection_attempts=3) as venue:
        for _ in range(3):
            async with connect(f"{venue.ws_url}/ws"):
                pass
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"{venue.ws_url}/ws"):
                pass
        assert info.value.response.status_code == 429


async def test_server_close_with_code_and_shutdown_event(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, connect(f"{venue.ws_url}/stream") as ws:
        await asyncio.sleep(0.05)
        closed = await venue.close_connections(code=1001, reason="maintenance", shutdown_event=True)
        assert len(closed) == 1
        event = await recv_json(ws)
        assert event["stream"] == "!serverShutdown" and event["data"]["e"] == "serverShutdown"
        with pytest.raises(ConnectionClosed) as info:
            await recv_json(ws)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001


async def test_connection_age_cut(venue_factory: VenueFactory) -> None:
    async with (
        venue_factory(max_connection_age_s=0.3, max_age_close_code=1000) as venue,
        connect(f"{venue.ws_url}/ws") as ws,
    ):
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 3)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1000
    assert any(e.event == "max_age_close" for e in venue.history.events)


async def test_local_book_built_by_binance_procedure_equals_true_book(venue_factory: VenueFactory) -> None:
    """A client following the documented snapshot + diff procedure ends with the venue's true book."""
    streams = "/".join(f"{s}@depth@100ms" for s in ("nknusdt", "lrcbtc", "blzeth", "runeeur"))
    async with (
        venue_factory(speed=5.0) as venue,
        aiohttp.ClientSession() as http,
        connect(f"{venue.ws_url}/stream?streams={streams}") as ws,
    ):
        await asyncio.sleep(0.05)
        venue.start_replay()
        books: dict[str, BookSync] = {}

        async def snapshot(symbol: str) -> None:
            async with http.get(
                f"{venue.rest_url}/api/v3/depth", params={"symbol": symbol, "limit": "5000"}
            ) as r:
                snap = await r.json()
            if books[symbol].apply_snapshot(snap["lastUpdateId"], snap["bids"], snap["asks"]) is Step.REFETCH:
                await snapshot(symbol)

        async def reader() -> None:
            tasks = []
            try:
                async for raw in ws:
                    data = orjson.loads(raw)["data"]
                    sync = books.setdefault(data["s"], BookSync(data["s"]))
                    step = sync.on_diff(data["U"], data["u"], data["b"], data["a"])
                    assert step is not Step.GAP
                    if step is Step.BUFFERED and len(sync.buffer) == 1:
                        tasks.append(asyncio.create_task(snapshot(data["s"])))
            finally:
                await asyncio.gather(*tasks)

        task = asyncio.create_task(reader())
        await venue.wait_replay_done(40)
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert set(books) == {"NKNUSDT", "LRCBTC", "BLZETH", "RUNEEUR"}
        for symbol, sync in books.items():
            assert sync.synced, symbol
            true = venue.true_book(symbol, limit=100_000)
            bids, asks = sync.book.top()
            assert sync.book.last_update_id == true["id"]
            assert bids == true["bids"] and asks == true["asks"], symbol


async def test_message_faults_drop_duplicate_reorder_corrupt_silence(venue_factory: VenueFactory) -> None:
    async with (
        venue_factory(seed=5) as venue,
        connect(f"{venue.ws_url}/stream?streams={NKN_DEPTH}/{NKN_TICKER}") as ws,
    ):
        venue.add_fault("drop", stream=NKN_DEPTH, count=2)
        venue.add_fault("silence", stream=NKN_TICKER)
        await asyncio.sleep(0.05)
        venue.start_replay()
        raw_frames: list[bytes] = []

        async def reader() -> None:
            async for raw in ws:
                raw_frames.append(raw if isinstance(raw, bytes) else raw.encode())

        task = asyncio.create_task(reader())
        await venue.wait_replay_done(20)
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    frames = [orjson.loads(r) for r in raw_frames]
    assert {f["stream"] for f in frames} == {NKN_DEPTH}  # ticker silenced
    assert len(frames) == 148
    dropped = [
        e.detail["venue_id"]
        for e in venue.history.events
        if e.event == "dropped" and e.detail["stream"] == NKN_DEPTH
    ]
    assert dropped == [499869752, 499869754]
    assert ids_of(frames)[:2] == [499869757, 499869759]


async def test_duplicate_reorder_and_corrupt_are_flagged_in_history(venue_factory: VenueFactory) -> None:
    # Timed replay (31 s recording at 10x): the faults added after the first frames still find traffic.
    async with venue_factory(seed=5, speed=10.0) as venue, connect(f"{venue.ws_url}/ws/{NKN_DEPTH}") as ws:
        venue.add_fault("duplicate", stream=NKN_DEPTH, count=1)
        await asyncio.sleep(0.05)
        venue.start_replay()
        first = await recv_json(ws)
        second = await recv_json(ws)
        assert first == second
        rest: list[bytes] = []

        async def reader() -> None:
            async for raw in ws:
                rest.append(raw if isinstance(raw, bytes) else raw.encode())

        task = asyncio.create_task(reader())
        venue.add_fault("reorder", stream=NKN_DEPTH, count=1)
        # Corrupt only after the swap went out, so the corrupted frame is not one of the swapped pair.
        while SendFlag.REORDERED not in [row.flag for row in venue.history.rows(stream=NKN_DEPTH)]:
            await asyncio.sleep(0.01)
        venue.add_fault("corrupt", stream=NKN_DEPTH, count=1)
        await venue.wait_replay_done(20)
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    flags = [row.flag for row in venue.history.rows(stream=NKN_DEPTH)]
    assert flags.count(SendFlag.DUPLICATE) == 1
    assert flags.count(SendFlag.REORDERED) == 1
    assert flags.count(SendFlag.CORRUPTED) == 1
    bad = [r for r in rest if not _is_json(r)]
    assert len(bad) == 1
    good_ids = [orjson.loads(r)["u"] for r in rest if _is_json(r)]
    swapped = [(a, b) for a, b in itertools.pairwise(good_ids) if b < a]
    assert len(swapped) == 1  # exactly one adjacent pair out of order


def _is_json(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


async def test_gap_fault_shifts_ids_and_true_book_follows(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, connect(f"{venue.ws_url}/ws/{NKN_DEPTH}") as ws:
        venue.insert_gap("nknusdt", 1000)
        await asyncio.sleep(0.05)
        venue.start_replay()
        frames = await collect_until_done(venue, ws)
    assert frames[0]["U"] == 499869750 + 1000
    assert venue.true_book("NKNUSDT")["id"] == 499870179 + 1000


async def test_refused_subscription(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, connect(f"{venue.ws_url}/ws") as ws:
        venue.add_fault("refuse_subscribe", stream="nknusdt@*", count=1)
        reply = await control(ws, "SUBSCRIBE", [NKN_DEPTH], 1)
        assert "error" in reply and reply["id"] == 1
        assert await control(ws, "SUBSCRIBE", [NKN_DEPTH], 2) == {"result": None, "id": 2}


async def test_timed_replay_lateness_is_small_and_recorded(venue_factory: VenueFactory) -> None:
    async with (
        venue_factory(speed=10.0) as venue,
        connect(f"{venue.ws_url}/stream?streams={NKN_DEPTH}/{NKN_TICKER}") as ws,
    ):
        await asyncio.sleep(0.05)
        venue.start_replay()
        frames = await collect_until_done(venue, ws)
    lateness = sorted(venue.history.lateness_ns())
    assert len(lateness) == len(frames) == 224
    assert lateness[0] >= 0  # never early
    assert lateness[len(lateness) // 2] < 5_000_000  # median under 5 ms even on a busy CI machine
