"""The live control protocol codec and stream-name rules (pure)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_venues.binance_spot.control_codec import (
    ControlCommand,
    ControlError,
    encode_error,
    encode_result,
    parse_control,
)
from mock_venues.binance_spot.streams import parse_stream


@pytest.mark.parametrize(
    ("name", "kind", "symbol"),
    [
        ("btcusdt@trade", "trade", "BTCUSDT"),
        ("btcusdt@aggTrade", "aggTrade", "BTCUSDT"),
        ("btcusdt@depth", "depth", "BTCUSDT"),
        ("btcusdt@depth@100ms", "depth", "BTCUSDT"),
        ("btcusdt@depth20@100ms", "partialDepth", "BTCUSDT"),
        ("btcusdt@kline_1m", "kline", "BTCUSDT"),
        ("btcusdt@kline_1h@+08:00", "kline", "BTCUSDT"),
        ("btcusdt@bookTicker", "bookTicker", "BTCUSDT"),
        ("btcusdt@ticker_4h", "rollingTicker", "BTCUSDT"),
        ("!miniTicker@arr", "allMarket", ""),
    ],
)
def test_valid_stream_names(name: str, kind: str, symbol: str) -> None:
    parsed = parse_stream(name)
    assert parsed is not None and (parsed.kind, parsed.symbol) == (kind, symbol)


@pytest.mark.parametrize(
    "name",
    [
        "BTCUSDT@trade",
        "btc usdt@trade",
        "btcusdt@depth@0ms",
        "btcusdt@kline_2m",
        "btcusdt",
        "@trade",
        "btcusdt@depth7",
    ],
)
def test_invalid_stream_names(name: str) -> None:
    assert parse_stream(name) is None


def test_subscribe_keeps_order_and_drops_duplicates() -> None:
    frame = b'{"method":"SUBSCRIBE","params":["a1@trade","b1@trade","a1@trade"],"id":"3f1c6e0a-7a1b-4c55"}'
    assert parse_control(frame) == ControlCommand("SUBSCRIBE", ("a1@trade", "b1@trade"), "3f1c6e0a-7a1b-4c55")


@pytest.mark.parametrize(
    ("frame", "code", "id_", "fragment"),
    [
        (b"{not json", 3, None, "Invalid JSON"),
        (b"[1]", 3, None, "Invalid JSON"),
        (b'{"method":"SUBSCRIBE","params":[]}', 2, None, "request ID"),
        (b'{"method":"SUBSCRIBE","params":[],"id":true}', 2, None, "request ID"),
        (b'{"method":"SUBSCRIBE","params":[],"id":"has space"}', 2, None, "request ID"),
        (b'{"method":"SUBSCRIBE","params":[],"id":' + str(2**63).encode() + b"}", 2, None, "request ID"),
        (b'{"params":[],"id":4}', 2, 4, "missing field `method`"),
        (b'{"method":"EXPLODE","id":5}', 2, 5, "unknown variant `EXPLODE`"),
        (b'{"method":"SUBSCRIBE","params":["BTCUSDT@trade"],"id":6}', 2, 6, "invalid stream"),
        (b'{"method":"SUBSCRIBE","params":"btcusdt@trade","id":7}', 2, 7, "params"),
        (b'{"method":"LIST_SUBSCRIPTIONS","params":["x"],"id":8}', 2, 8, "too many parameters"),
        (b'{"method":"SET_PROPERTY","params":["colour",true],"id":9}', 0, 9, "Unknown property"),
        (b'{"method":"SET_PROPERTY","params":["combined","yes"],"id":10}', 1, 10, "expected Boolean"),
        (b'{"method":"GET_PROPERTY","params":[1],"id":11}', 2, 11, "property name must be a string"),
        (b'{"method":"GET_PROPERTY","params":["combined","x"],"id":12}', 2, 12, "too many parameters"),
    ],
)
def test_errors_carry_binance_codes(frame: bytes, code: int, id_: object, fragment: str) -> None:
    parsed = parse_control(frame)
    assert isinstance(parsed, ControlError)
    assert (parsed.code, parsed.id) == (code, id_) and fragment in parsed.msg


def test_reply_shapes() -> None:
    assert orjson.loads(encode_result(1, None)) == {"result": None, "id": 1}
    assert orjson.loads(encode_error(None, 3, "x")) == {"error": {"code": 3, "msg": "x"}, "id": None}


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_parse_control_never_raises(frame: bytes | str) -> None:
    assert isinstance(parse_control(frame), ControlCommand | ControlError)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=20),
        lambda c: (
            st.lists(c, max_size=4)
            | st.dictionaries(st.sampled_from(["method", "params", "id", "x"]), c, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_parse_control_never_raises_on_any_json(value: object) -> None:
    assert isinstance(parse_control(orjson.dumps(value)), ControlCommand | ControlError)
