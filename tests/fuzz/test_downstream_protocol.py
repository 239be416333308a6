"""Fuzz: the downstream protocol's client message parser (feed/downstream/protocol.py).

Valid outcome: a :class:`Request` for one of the protocol's ops, or a :class:`ProtocolError` with one of
the documented codes; either way the reply the hub sends back encodes to JSON.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feed.downstream.protocol import (
    ALIASES,
    CHANNELS,
    OPS,
    ProtocolError,
    Request,
    encode,
    parse_request,
    reply,
)
from tests.fuzz import support
from tests.fuzz.support import FUZZ

pytestmark = pytest.mark.fuzz

INSTRUMENTS = frozenset({"binance-spot:BTCUSDT", "binance-spot:ETHUSDT", "toy:BTCUSDT"})
CODES = {"bad_json", "bad_request", "unknown_op", "unknown_channel", "unknown_instrument"}

NAMES = st.sampled_from([*CHANNELS, *ALIASES, "*", "", "BOOK"]) | support.TEXT
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "op": st.sampled_from([*OPS, "SUBSCRIBE", ""]) | support.JSON_VALUES,
    "id": st.integers() | support.HUGE_INTS | support.TEXT | support.JSON_VALUES,
    "instrument": st.sampled_from([*INSTRUMENTS, "btcusdt", "BTCUSDT", ":", ""]) | support.JSON_VALUES,
    "symbol": st.sampled_from(["btcusdt", "ethusdt", "x"]) | support.JSON_VALUES,
    "channels": st.lists(NAMES, max_size=10) | support.JSON_VALUES,
    "extra": support.JSON_VALUES,
}
REQUESTS = st.fixed_dictionaries({}, optional=FIELDS).map(support.to_json)
VALID = st.builds(
    lambda op, ident, instrument, channels: {
        "op": op,
        "id": ident,
        "instrument": instrument,
        "channels": channels,
    },
    st.sampled_from(OPS),
    st.integers(0, 10**6),
    st.sampled_from(sorted(INSTRUMENTS)),
    st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=3),
).map(support.to_json)
MESSAGES = st.one_of(
    REQUESTS.map(lambda b: b.decode()),
    VALID.map(lambda b: b.decode()),
    support.mutations(VALID).map(lambda b: b.decode("utf-8", "replace")),
    support.JSON_VALUES.map(lambda v: support.to_json(v).decode()),
    support.DEEP.map(bytes.decode),
    st.text(max_size=200),
    st.binary(max_size=200),
)


@given(MESSAGES)
@FUZZ
def test_parse_request_returns_a_request_or_a_protocol_error(message: str | bytes) -> None:
    support.tried("downstream protocol")
    try:
        request = parse_request(message, INSTRUMENTS)
    except ProtocolError as exc:
        assert exc.code in CODES
        assert encode(exc.reply())
        return
    assert isinstance(request, Request) and request.op in OPS
    assert all(channel in CHANNELS for channel in request.channels)
    kind = {"list": "subscriptions", "subscribe": "subscribed", "unsubscribe": "unsubscribed"}[request.op]
    assert encode(reply(kind, request, at=0))
