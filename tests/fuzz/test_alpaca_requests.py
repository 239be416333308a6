"""Fuzz: what the mock Alpaca venue decodes from clients: WebSocket request frames (JSON text, JSON or msgpack
binary) and the REST inputs it parses (times, page tokens).

Valid outcome of a frame: an ``Auth``, a ``Subscribe`` (channel -> valid symbols) or a ``BadRequest``, never
an exception; the session state machine answers it with control messages that encode in both encodings.
Valid outcome of a REST time or page token: a value or a ValueError (the venue's 400).
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_venues.alpaca.codec import (
    Auth,
    BadRequest,
    Encoding,
    Subscribe,
    decode_request,
    encode,
    parse_rfc3339,
    valid_symbol,
)
from mock_venues.alpaca.protocol import CHANNELS as PROTOCOL_CHANNELS
from mock_venues.alpaca.protocol import AlpacaProtocol, Market, parse_path
from mock_venues.alpaca.rest import BadParam, decode_token
from tests.fuzz import support
from tests.fuzz.support import FUZZ

pytestmark = pytest.mark.fuzz

# Every channel some endpoint serves, plus keys none does (imbalances are not served; "action" is the verb).
KNOWN_CHANNELS = sorted({c for channels in PROTOCOL_CHANNELS.values() for c in channels})
CHANNELS = st.sampled_from([*KNOWN_CHANNELS, "imbalances", "action", ""]) | st.text(max_size=20)
SYMBOLS = st.sampled_from(
    ["IBM", "*", "BTC/USD", "SPY230901C00430000", "", " ", "I B M", "1", "ibm"]
) | st.text(max_size=20)
REQUEST = st.fixed_dictionaries(
    {},
    optional={
        "action": st.sampled_from(["auth", "subscribe", "unsubscribe", "listen", ""]) | support.JSON_VALUES,
        "key": st.text(max_size=20) | support.JSON_VALUES,
        "secret": st.text(max_size=20) | support.JSON_VALUES,
    },
).flatmap(
    lambda base: st.dictionaries(
        CHANNELS, st.lists(SYMBOLS, max_size=5) | support.JSON_VALUES, max_size=4
    ).map(lambda chans: {**chans, **base})
)
VALID = st.builds(
    lambda action, chans: {"action": action, **chans},
    st.sampled_from(["subscribe", "unsubscribe"]),
    st.dictionaries(
        st.sampled_from(["trades", "quotes", "bars"]), st.lists(st.sampled_from(["IBM", "*"])), max_size=3
    ),
)


def _msgpack(value: Any) -> bytes:
    try:
        return bytes(msgpack.packb(value))
    except (OverflowError, TypeError, ValueError):  # ints beyond 64 bits
        return b"\xc1"


FRAMES = st.one_of(
    REQUEST.map(support.to_json),
    REQUEST.map(lambda d: support.to_json(d).decode(errors="replace")),
    REQUEST.map(_msgpack),
    support.mutations(VALID.map(support.to_json)),
    support.mutations(VALID.map(_msgpack)),
    support.JSON_VALUES.map(_msgpack),
    support.DEEP,
    st.binary(max_size=300),
    st.text(max_size=300),
)


@given(FRAMES, st.sampled_from(["/v2/iex", "/v1beta3/crypto/us", "/v1beta1/opra", "/v1beta1/news"]))
@FUZZ
def test_request_frames_decode_to_a_request_and_get_alpaca_replies(frame: bytes | str, path: str) -> None:
    support.tried("alpaca WS request codec")
    request = decode_request(frame)
    assert isinstance(request, Auth | Subscribe | BadRequest)
    if isinstance(request, Subscribe):
        assert all(
            isinstance(c, str) and all(valid_symbol(s) for s in syms) for c, syms in request.channels.items()
        )
    endpoint = parse_path(path)
    assert endpoint is not None
    encoding = Encoding.MSGPACK if endpoint.market is Market.OPTIONS else Encoding.JSON
    proto = AlpacaProtocol(endpoint, encoding, lambda k, s: None if k else 402, symbol_limit=30)
    proto.on_connect()
    for step in (request, Auth("k", "s"), request):
        out = proto.on_request(step)
        for reply in out.replies:
            assert reply["T"] in ("success", "error", "subscription")
            assert orjson.loads(encode([reply], Encoding.JSON))[0]["T"] == reply["T"]
            assert msgpack.unpackb(encode([reply], Encoding.MSGPACK))[0]["T"] == reply["T"]


@given(st.text(max_size=60) | st.sampled_from(["2013-10-07", "2013-10-07T13:29:00.035000123Z", "9999-99-99"]))
@FUZZ
def test_rest_times_parse_or_raise_value_error(text: str) -> None:
    support.tried("alpaca REST time parser")
    with contextlib.suppress(ValueError):
        assert isinstance(parse_rfc3339(text), int)


@given(st.text(max_size=60) | st.binary(max_size=40).map(lambda b: b.hex()))
@FUZZ
def test_page_tokens_decode_or_are_refused(token: str) -> None:
    support.tried("alpaca REST page token")
    with contextlib.suppress(BadParam):
        assert decode_token(token) >= 0
