"""Fuzz: what the mock Binance venue parses from clients: WebSocket control frames and REST query strings.

Valid outcome of a control frame: a :class:`ControlCommand` (known method, valid id) or a
:class:`ControlError`, and the reply frame the session sends encodes. Valid outcome of a REST query: the
endpoint's parsed query or an :class:`ApiError` with a 4xx status and a negative Binance code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict
from yarl import URL

from mock_venues.binance_spot import rest
from mock_venues.binance_spot.control_codec import (
    METHODS,
    ControlCommand,
    ControlError,
    encode_error,
    encode_result,
    parse_control,
)
from tests.fuzz import support
from tests.fuzz.support import FUZZ

pytestmark = pytest.mark.fuzz

STREAM_NAMES = st.sampled_from(
    ["btcusdt@trade", "btcusdt@depth@100ms", "btcusdt@kline_1m", "!miniTicker@arr", "BTCUSDT@trade", "@", ""]
) | st.text(max_size=40)
CONTROL = st.fixed_dictionaries(
    {},
    optional={
        "method": st.sampled_from([*METHODS, "subscribe", ""]) | support.JSON_VALUES,
        "params": st.lists(STREAM_NAMES | support.JSON_VALUES, max_size=6)
        | st.sampled_from([["combined"], ["combined", True], ["combined", 1]])
        | support.JSON_VALUES,
        "id": st.integers() | support.HUGE_INTS | st.text(max_size=40) | support.JSON_VALUES,
        "extra": support.JSON_VALUES,
    },
).map(support.to_json)
VALID_CONTROL = st.builds(
    lambda method, params, ident: orjson.dumps({"method": method, "params": params, "id": ident}),
    st.sampled_from(["SUBSCRIBE", "UNSUBSCRIBE"]),
    st.lists(st.sampled_from(["btcusdt@trade", "ethusdt@depth@100ms", "btcusdt@bookTicker"]), max_size=4),
    st.integers(0, 2**63 - 1),
)
FRAMES = st.one_of(
    CONTROL,
    VALID_CONTROL,
    support.mutations(VALID_CONTROL),
    support.JSON_VALUES.map(support.to_json),
    support.DEEP,
    st.binary(max_size=300),
    st.text(max_size=300),
)


@given(FRAMES)
@FUZZ
def test_control_frames_parse_to_a_command_or_a_binance_error(frame: bytes | str) -> None:
    support.tried("venue WS control codec")
    parsed = parse_control(frame)
    if isinstance(parsed, ControlError):
        assert isinstance(parsed.code, int) and parsed.msg
        assert orjson.loads(encode_error(parsed.id, parsed.code, parsed.msg))["error"]["code"] == parsed.code
        return
    assert isinstance(parsed, ControlCommand) and parsed.method in METHODS
    assert orjson.loads(encode_result(parsed.id, None))["id"] == parsed.id


class _Market:
    """What the endpoints' parsers read of the market: the symbols it has books for."""

    books: Mapping[str, Any] = {"BTCUSDT": None, "ETHUSDT": None, "BNBBTC": None}


ENDPOINTS: dict[str, tuple[frozenset[str], Callable[[Mapping[str, str]], Any]]] = {
    "/api/v3/depth": (
        frozenset({"symbol", "limit", "symbolStatus"}),
        lambda p: rest.parse_depth(p, _Market.books),
    ),
    "/api/v3/aggTrades": (
        frozenset({"symbol", "fromId", "startTime", "endTime", "limit"}),
        lambda p: rest.parse_agg_trades(p, _Market.books),
    ),
    "/api/v3/trades": (frozenset({"symbol", "limit"}), lambda p: rest.parse_trades(p, _Market.books)),
    "/api/v3/historicalTrades": (
        frozenset({"symbol", "fromId", "limit"}),
        lambda p: rest.parse_historical_trades(p, _Market.books),
    ),
    "/api/v3/exchangeInfo": (
        frozenset({"symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus"}),
        lambda p: rest.parse_exchange_info(p, list(_Market.books)),
    ),
}
PARAM_NAMES = st.sampled_from(
    [
        "symbol",
        "symbols",
        "limit",
        "fromId",
        "startTime",
        "endTime",
        "symbolStatus",
        "permissions",
        "showPermissionSets",
        "x",
        "",
    ]
)
PARAM_VALUES = st.one_of(
    st.sampled_from(
        [
            "BTCUSDT",
            "btcusdt",
            '["BTCUSDT","ETHUSDT"]',
            '["BTCUSDT","BTCUSDT"]',
            "[]",
            "SPOT",
            '["SPOT"]',
            "TRADING",
            "BREAK",
            "true",
            "false",
            "0",
            "1",
            "5000",
            "99999999999999999999",
            "18446744073709551616",
            "-1",
            "1e3",
            "",
            "1\n",
            "١٢٣",
        ]
    ),
    st.integers().map(str),
    support.JSON_VALUES.map(lambda v: support.to_json(v).decode()),
    st.text(max_size=40),
)
QUERIES = st.lists(st.tuples(PARAM_NAMES | st.text(max_size=10), PARAM_VALUES), max_size=6).map(
    lambda pairs: "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
)
RAW_QUERIES = st.text(max_size=200)  # unescaped: yarl decides what it means


@given(st.sampled_from(sorted(ENDPOINTS)), QUERIES | RAW_QUERIES)
@FUZZ
def test_rest_queries_parse_or_get_a_binance_error(path: str, query: str) -> None:
    support.tried("venue REST query parsing")
    known, parse = ENDPOINTS[path]
    params_in = MultiDict(URL(f"http://127.0.0.1{path}?{query}").query)
    try:
        parsed = parse(rest.flatten_params(params_in, known))
    except rest.ApiError as exc:
        assert 400 <= exc.status < 500 and exc.code < 0 and exc.msg
        assert orjson.dumps(exc.body())
        return
    assert getattr(parsed, "symbol", None) in (None, *_Market.books)
    limit = getattr(parsed, "limit", None)
    assert limit is None or 1 <= limit <= 5000
