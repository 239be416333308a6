"""Every upgrade path form of the stream host: what is refused at the handshake and what is only ignored.

The decisions and their sources (Binance docs, client source, reports against the real host, or
"unverified") are tabulated in docs/venue.md ("Handshake paths"); this file pins the mock to that table,
first as a pure function, then over a real WebSocket handshake on loopback.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

import orjson
import pytest
from websockets.exceptions import InvalidStatus

from mock_venues.binance_spot.server import Endpoint, HandshakeError, parse_endpoint
from tests.venue.conftest import VenueFactory, collect_until_done, connect, control

pytestmark = pytest.mark.timeout(60)

NKN_DEPTH = "nknusdt@depth@100ms"
NKN_TICKER = "nknusdt@bookTicker"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # bare endpoints: no streams until SUBSCRIBE (the official SDKs)
        ("/ws", Endpoint(False, ())),
        ("/ws/", Endpoint(False, ())),
        ("/stream", Endpoint(True, ())),
        ("/stream/", Endpoint(True, ())),
        ("/stream?streams=", Endpoint(True, ())),
        # documented forms
        ("/ws/btcusdt@trade", Endpoint(False, ("btcusdt@trade",))),
        ("/stream?streams=btcusdt@trade/ethusdt@depth", Endpoint(True, ("btcusdt@trade", "ethusdt@depth"))),
        ("/ws/btcusdt@trade/ethusdt@depth@100ms", Endpoint(False, ("btcusdt@trade", "ethusdt@depth@100ms"))),
        ("/ws/btcusdt@trade/", Endpoint(False, ("btcusdt@trade",))),
        ("//ws//btcusdt@trade", Endpoint(False, ("btcusdt@trade",))),
        ("/ws/btcusdt@trade/btcusdt@trade", Endpoint(False, ("btcusdt@trade",))),
        # labels and other non-stream names: accepted, ignored (ccxt: /ws/0, /ws/1, ...; listenKeys)
        ("/ws/0", Endpoint(False, (), ("0",))),
        ("/ws/17", Endpoint(False, (), ("17",))),
        ("/ws/my-feed", Endpoint(False, (), ("my-feed",))),
        ("/ws/BTCUSDT@trade", Endpoint(False, (), ("BTCUSDT@trade",))),
        ("/ws/NOT%20A%20STREAM", Endpoint(False, (), ("NOT A STREAM",))),
        ("/ws/0/btcusdt@trade", Endpoint(False, ("btcusdt@trade",), ("0",))),
        ("/stream?streams=btcusdt@nonsense", Endpoint(True, (), ("btcusdt@nonsense",))),
        (
            "/stream?streams=btcusdt@bookticker/btcusdt@trade",
            Endpoint(True, ("btcusdt@trade",), ("btcusdt@bookticker",)),
        ),
        # URL-encoded names and separators
        ("/ws/btcusdt%40trade", Endpoint(False, ("btcusdt@trade",))),
        ("/ws/btcusdt%40trade%2Fethusdt%40trade", Endpoint(False, ("btcusdt@trade", "ethusdt@trade"))),
        (
            "/stream?streams=btcusdt%40trade%2Fethusdt%40trade",
            Endpoint(True, ("btcusdt@trade", "ethusdt@trade")),
        ),
        # a plus sign is a plus sign, encoded or not (the UTC+8 kline streams)
        ("/stream?streams=btcusdt@kline_1m@+08:00", Endpoint(True, ("btcusdt@kline_1m@+08:00",))),
        ("/stream?streams=btcusdt@kline_1m@%2B08:00", Endpoint(True, ("btcusdt@kline_1m@+08:00",))),
        ("/ws/btcusdt@kline_1m@+08:00", Endpoint(False, ("btcusdt@kline_1m@+08:00",))),
        # timeUnit: the two millisecond spellings Binance documents
        ("/ws?timeUnit=MILLISECOND", Endpoint(False, ())),
        ("/stream?streams=btcusdt@trade&timeUnit=millisecond", Endpoint(True, ("btcusdt@trade",))),
        # other query parameters are ignored
        ("/ws/btcusdt@trade?foo=bar", Endpoint(False, ("btcusdt@trade",))),
    ],
)
def test_accepted_paths(path: str, expected: Endpoint) -> None:
    assert parse_endpoint(path) == expected


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/", HTTPStatus.NOT_FOUND, -1),
        ("/nope", HTTPStatus.NOT_FOUND, -1),
        ("/wss", HTTPStatus.NOT_FOUND, -1),
        ("/streams?streams=btcusdt@trade", HTTPStatus.NOT_FOUND, -1),
        ("/stream/btcusdt@trade", HTTPStatus.NOT_FOUND, -1),
        ("/ws-api/v3", HTTPStatus.NOT_FOUND, -1),
        ("/ws?timeUnit=MICROSECOND", HTTPStatus.NOT_IMPLEMENTED, -1),
        ("/stream?streams=btcusdt@trade&timeUnit=microsecond", HTTPStatus.NOT_IMPLEMENTED, -1),
        ("/ws?timeUnit=Millisecond", HTTPStatus.BAD_REQUEST, -1194),
        ("/ws?timeUnit=NANOSECOND", HTTPStatus.BAD_REQUEST, -1194),
        ("/ws/btcusdt@trade?timeUnit=", HTTPStatus.BAD_REQUEST, -1194),
    ],
)
def test_refused_paths(path: str, status: HTTPStatus, code: int) -> None:
    with pytest.raises(HandshakeError) as info:
        parse_endpoint(path)
    assert (info.value.status, info.value.code) == (status, code)


# -- over the wire ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/nope", 404, {"code": -1, "msg": "unknown path '/nope'"}),
        (
            "/ws?timeUnit=MICROSECOND",
            501,
            {
                "code": -1,
                "msg": "timeUnit=MICROSECOND is valid on Binance but not implemented by this mock venue "
                "(it sends milliseconds only)",
            },
        ),
        (
            "/stream?timeUnit=seconds",
            400,
            {
                "code": -1194,
                "msg": "Invalid value for time unit; expected either MICROSECOND or MILLISECOND.",
            },
        ),
    ],
)
async def test_refusals_carry_a_status_and_a_json_body(
    venue_factory: VenueFactory, path: str, status: int, body: dict[str, object]
) -> None:
    async with venue_factory() as venue:
        with pytest.raises(InvalidStatus) as info:
            async with connect(venue.ws_url + path):
                pass
    response = info.value.response
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert orjson.loads(response.body) == body
    refused = [e for e in venue.history.events if e.event == "handshake_refused"]
    assert [(e.detail["path"], e.detail["status"]) for e in refused] == [(path, status)]


async def test_ws_label_starts_empty_then_subscribes_like_any_connection(venue_factory: VenueFactory) -> None:
    """The known defect: ``/ws/0`` was refused with 400 "invalid stream '0'" while Binance accepts it."""
    async with venue_factory() as venue, connect(f"{venue.ws_url}/ws/0") as ws:
        assert await control(ws, "LIST_SUBSCRIPTIONS", None, 1) == {"result": [], "id": 1}
        assert await control(ws, "GET_PROPERTY", ["combined"], 2) == {"result": False, "id": 2}
        assert await control(ws, "SUBSCRIBE", [NKN_DEPTH], 3) == {"result": None, "id": 3}
        assert await control(ws, "LIST_SUBSCRIPTIONS", None, 4) == {"result": [NKN_DEPTH], "id": 4}
        venue.start_replay()
        frames = await collect_until_done(venue, ws)
    assert len(frames) == 150 and all(f["e"] == "depthUpdate" and "stream" not in f for f in frames)
    connect_event = next(e for e in venue.history.events if e.event == "connect")
    assert connect_event.detail["streams"] == [] and connect_event.detail["ignored"] == ["0"]


async def test_invalid_names_next_to_valid_ones_are_ignored(venue_factory: VenueFactory) -> None:
    async with (
        venue_factory() as venue,
        connect(f"{venue.ws_url}/stream?streams=NKNUSDT@trade/{NKN_TICKER}/nknusdt@nonsense") as ws,
    ):
        assert await control(ws, "LIST_SUBSCRIPTIONS", None, 1) == {"result": [NKN_TICKER], "id": 1}
        venue.start_replay()
        frames = await collect_until_done(venue, ws)
    assert {f["stream"] for f in frames} == {NKN_TICKER}
    assert len(frames) == 74


@pytest.mark.parametrize(
    ("path", "combined"),
    [
        (f"/ws/{NKN_DEPTH.replace('@', '%40')}", False),
        (f"/ws/{NKN_DEPTH}/", False),
        (f"/stream/?streams={NKN_DEPTH.replace('@', '%40')}", True),
        (f"/stream?streams={NKN_DEPTH}&timeUnit=MILLISECOND", True),
    ],
)
async def test_encoded_and_trailing_slash_forms_deliver_data(
    venue_factory: VenueFactory, path: str, combined: bool
) -> None:
    async with venue_factory() as venue, connect(venue.ws_url + path) as ws:
        await asyncio.sleep(0.05)
        venue.start_replay()
        frames = await collect_until_done(venue, ws)
    assert len(frames) == 150
    if combined:
        assert {f["stream"] for f in frames} == {NKN_DEPTH}
    else:
        assert all("stream" not in f for f in frames)
    assert venue.history.ids(NKN_DEPTH) == [f["data"]["u"] if combined else f["u"] for f in frames]


async def test_stream_count_limit_counts_only_stream_names(venue_factory: VenueFactory) -> None:
    async with venue_factory(max_streams_per_connection=2) as venue:
        async with connect(f"{venue.ws_url}/ws/0/1/2/{NKN_DEPTH}/{NKN_TICKER}") as ws:
            assert (await control(ws, "LIST_SUBSCRIPTIONS", None, 1))["result"] == [NKN_DEPTH, NKN_TICKER]
        with pytest.raises(InvalidStatus) as info:
            async with connect(f"{venue.ws_url}/stream?streams={NKN_DEPTH}/{NKN_TICKER}/nknusdt@trade"):
                pass
    assert info.value.response.status_code == 400
    assert orjson.loads(info.value.response.body) == {
        "code": 2,
        "msg": "Invalid request: too many streams (max 2)",
    }
