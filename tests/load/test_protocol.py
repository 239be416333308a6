"""The downstream protocol: every bad message gets a clear error reply; good ones parse exactly."""

from __future__ import annotations

import orjson
import pytest

from feed.downstream.protocol import ProtocolError, parse_request, resolve_instrument, route
from feed.events import FeedEvent

SYMBOLS = frozenset({"binance-spot:BTCUSDT", "binance-spot:ETHUSDT", "spot-b:ETHUSDT"})


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
        ('{"op": "subscribe", "id": 1, "channels": ["book"]}', "bad_request", "instrument is required"),
        (
            '{"op": "subscribe", "id": 1, "symbol": 7, "channels": ["book"]}',
            "bad_request",
            "instrument is required",
        ),
        (
            '{"op": "subscribe", "id": 1, "symbol": "dogeusdt", "channels": ["book"]}',
            "unknown_instrument",
            "dogeusdt",
        ),
        (
            '{"op": "subscribe", "id": 1, "symbol": "ethusdt", "channels": ["book"]}',
            "unknown_instrument",
            "not one instrument",
        ),
        (
            '{"op": "subscribe", "id": 1, "instrument": "spot-b:BTCUSDT", "channels": ["book"]}',
            "unknown_instrument",
            "spot-b:BTCUSDT",
        ),
        (
            '{"op": "subscribe", "id": 1, "symbol": "x", "instrument": "spot-b:ETHUSDT", '
            '"channels": ["book"]}',
            "bad_request",
            "not both",
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
        '{"op": "subscribe", "id": 3, "symbol": "btcusdt", "channels": ["trade", "book", "trade"]}', SYMBOLS
    )
    assert (req.op, req.id, req.instrument, req.channels) == (
        "subscribe",
        3,
        "binance-spot:BTCUSDT",
        ("trade", "book"),
    )
    assert req.subscription_keys() == [("binance-spot:BTCUSDT", "trade"), ("binance-spot:BTCUSDT", "book")]
    exact = parse_request(
        '{"op": "subscribe", "instrument": "spot-b:ETHUSDT", "channels": ["quote"]}', SYMBOLS
    )
    assert exact.subscription_keys() == [("spot-b:ETHUSDT", "quote")]
    old = parse_request('{"op": "subscribe", "symbol": "btcusdt", "channels": ["trades", "klines"]}', SYMBOLS)
    assert old.channels == ("trade", "bar")  # protocol 1 names still accepted
    status = parse_request('{"op": "subscribe", "channels": ["status"]}', SYMBOLS)
    assert status.subscription_keys() == [("*", "status")]
    assert parse_request('{"op": "list", "id": 4}', SYMBOLS).op == "list"


def test_routes_follow_the_normalized_fields_only() -> None:
    trade = FeedEvent(type="market", venue="v", channel="trade", instrument="v:BTCUSDT", stream="anything")
    assert route(trade) == ("v:BTCUSDT", "trade")
    gap = FeedEvent(type="gap", venue="v", channel="book", instrument="v:BTCUSDT", id=5, first_id=3)
    assert route(gap) == ("v:BTCUSDT", "book")
    assert route(FeedEvent(type="connection", venue="v", channel="status")) == ("*", "status")
    assert route(FeedEvent(type="subscription", venue="v")) == ("*", "status")
    assert route(FeedEvent(type="gap", venue="")) is None  # a subscriber's own overflow: no instrument


def test_a_symbol_names_an_instrument_only_when_it_is_unambiguous() -> None:
    assert resolve_instrument("btcusdt", SYMBOLS) == "binance-spot:BTCUSDT"
    assert resolve_instrument("spot-b:ETHUSDT", SYMBOLS) == "spot-b:ETHUSDT"
    assert resolve_instrument("ethusdt", SYMBOLS) is None  # on two venues
    assert resolve_instrument("BTCUSDT:x", SYMBOLS) is None
