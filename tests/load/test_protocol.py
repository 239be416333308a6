"""The downstream protocol: every bad message gets a clear error reply; good ones parse exactly."""

from __future__ import annotations

import orjson
import pytest

from feed.downstream.protocol import ProtocolError, channel_of_stream, parse_request, route
from feed.events import FeedEvent

SYMBOLS = frozenset({"btcusdt", "ethusdt"})


@pytest.mark.parametrize(
    ("message", "code", "words"),
    [
        ("not json", "bad_json", "not valid JSON"),
        ("[1, 2]", "bad_request", "JSON object"),
        (b'{"op": "subscribe"}', "bad_request", "binary frames"),
        ('{"id": 1}', "unknown_op", "op must be one of"),
        ('{"op": "frobnicate", "id": 1}', "unknown_op", "frobnicate"),
        ('{"op": "subscribe", "id": 1, "symbol": "btcusdt"}', "bad_request", "channels must be"),
        ('{"op": "subscribe", "id": 1, "symbol": "btcusdt", "channels": []}', "bad_request", "non-empty"),
        ('{"op": "subscribe", "id": 1, "symbol": "btcusdt", "channels": "book"}', "bad_request", "list"),
        (
            '{"op": "subscribe", "id": 1, "symbol": "btcusdt", "channels": ["candles"]}',
            "unknown_channel",
            "candles",
        ),
        ('{"op": "subscribe", "id": 1, "channels": ["book"]}', "bad_request", "symbol is required"),
        (
            '{"op": "subscribe", "id": 1, "symbol": 7, "channels": ["book"]}',
            "bad_request",
            "symbol is required",
        ),
        (
            '{"op": "subscribe", "id": 1, "symbol": "dogeusdt", "channels": ["book"]}',
            "unknown_symbol",
            "dogeusdt",
        ),
        (
            '{"op": "subscribe", "id": true, "symbol": "btcusdt", "channels": ["book"]}',
            "bad_request",
            "id must",
        ),
        (
            '{"op": "subscribe", "id": 1, "symbol": "btcusdt", "channels": ["book"], "x": 1}',
            "bad_request",
            "x",
        ),
    ],
)
def test_bad_messages_become_error_replies(message: str | bytes, code: str, words: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_request(message, SYMBOLS)
    reply = info.value.reply()
    assert reply["type"] == "error" and reply["code"] == code
    assert words in reply["error"]
    orjson.dumps(reply)  # always serialisable


def test_error_reply_keeps_the_request_id_when_it_was_readable() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_request('{"op": "subscribe", "id": "req-9", "symbol": "nope", "channels": ["book"]}', SYMBOLS)
    assert info.value.reply()["id"] == "req-9"


def test_good_requests_parse_normalised() -> None:
    req = parse_request(
        '{"op": "subscribe", "id": 3, "symbol": "BTCUSDT", "channels": ["trades", "book", "trades"]}', SYMBOLS
    )
    assert (req.op, req.id, req.symbol, req.channels) == ("subscribe", 3, "btcusdt", ("trades", "book"))
    assert req.subscription_keys() == [("btcusdt", "trades"), ("btcusdt", "book")]
    status = parse_request('{"op": "subscribe", "channels": ["status"]}', SYMBOLS)
    assert status.subscription_keys() == [("*", "status")]
    assert parse_request('{"op": "list", "id": 4}', SYMBOLS).op == "list"


def test_routes_follow_the_stream_kind() -> None:
    assert channel_of_stream("btcusdt@depth@100ms") == ("btcusdt", "book")
    assert channel_of_stream("btcusdt@aggTrade") == ("btcusdt", "trades")
    assert channel_of_stream("btcusdt@bookTicker") == ("btcusdt", "quotes")
    assert channel_of_stream("btcusdt@kline_1m") == ("btcusdt", "klines")
    assert channel_of_stream("nonsense") is None
    gap = FeedEvent(type="gap", venue="v", symbol="BTCUSDT", stream="btcusdt@trade", id=5, first_id=3)
    assert route(gap) == ("btcusdt", "trades")
    assert route(FeedEvent(type="connection", venue="v")) == ("*", "status")
