"""Fuzz: the feed's Binance spot codec and the engine's routing of what it rejects to the DLQ.

Valid outcome for any frame: the codec returns one decoded item (never raises); when it is a rejection,
the engine hands exactly one dead letter carrying the frame's exact bytes, and the SQLite dead letter queue
gives the same bytes back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from feed import registry
from feed.adapter import ControlError, ControlReply, Market, Notice, Rejected
from feed.binance_spot import codec
from feed.binance_spot.codec import BinanceSpotCodec, decode_frame
from feed.dlq import DeadLetterQueue
from feed.engine import VenueEngine
from tests.fuzz import support
from tests.fuzz.support import FUZZ

pytestmark = pytest.mark.fuzz

STREAMS = (
    "btcusdt@trade",
    "btcusdt@aggTrade",
    "btcusdt@depth@100ms",
    "btcusdt@bookTicker",
    "btcusdt@kline_1m",
)


def _wrap(stream: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"stream": stream, "data": data}


RECORDED = st.sampled_from(support.recorded_ws())
RECORDED_DOCS = RECORDED.map(lambda rec: _wrap(*rec))
RECORDED_FRAMES = RECORDED_DOCS.map(support.to_json)
STREAM_NAMES = st.sampled_from([*STREAMS, "!serverShutdown", "btcusdt@depth", "x@kline_", "@", ""]) | st.text(
    max_size=30
)
PAYLOAD_KEYS = st.sampled_from(
    [*list("eEstpqTmMaflUubBAkixLochvnVQ"), "result", "id", "error", "code", "msg"]
)

STRUCTURED = st.one_of(
    # combined frames with payloads of made-up fields and values
    st.builds(_wrap, STREAM_NAMES, st.dictionaries(PAYLOAD_KEYS, support.JSON_VALUES, max_size=12)).map(
        support.to_json
    ),
    # raw (unwrapped) events, control replies and errors with arbitrary values
    st.dictionaries(PAYLOAD_KEYS, support.JSON_VALUES, max_size=12).map(support.to_json),
    support.JSON_VALUES.map(support.to_json),
)
FRAMES = st.one_of(
    st.binary(max_size=512),
    RECORDED_FRAMES,
    support.mutations(RECORDED_FRAMES),
    support.field_edits(RECORDED_DOCS),
    STRUCTURED,
    support.DEEP,
    support.DEEP.map(lambda doc: b'{"stream":"btcusdt@trade","data":' + doc + b"}"),
)


@pytest.fixture(scope="module")
def dlq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeadLetterQueue]:
    """One on-disk dead letter queue for the module."""
    path: Path = tmp_path_factory.mktemp("fuzz-dlq") / "dlq.sqlite"
    with DeadLetterQueue(path) as queue:
        yield queue


def _engine() -> VenueEngine:
    adapter = registry.adapter("binance-spot")
    engine = VenueEngine("binance-spot", adapter)
    specs = [adapter.parse_stream(name) for name in STREAMS]
    engine.watch([s for s in specs if s is not None], 0)
    return engine


ENGINE = _engine()
"""One long-lived engine for the whole run, as in a feed (its buffers and sequencers see every frame)."""
DECODED = (
    codec.Trade,
    codec.AggTrade,
    codec.DepthUpdate,
    codec.BookTicker,
    codec.Kline,
    codec.ServerShutdown,
    ControlReply,
    ControlError,
    Rejected,
)


@given(FRAMES)
@FUZZ
@example(b"[" * 5000 + b"]" * 5000)  # msgspec raised RecursionError past its nesting limit
@example(b'{"e":"trade","x":' + b"[" * 5000 + b"]" * 5000 + b"}")
def test_codec_decodes_or_rejects_with_raw_bytes(frame: bytes) -> None:
    support.tried("feed codec")
    _stream, decoded = decode_frame(frame)
    assert isinstance(decoded, DECODED)
    if isinstance(decoded, Rejected):
        assert decoded.raw == frame
        assert decoded.reason
    item = BinanceSpotCodec().decode(frame)
    assert isinstance(item, Market | ControlReply | ControlError | Notice | Rejected)
    if isinstance(item, Rejected):
        assert item.raw == frame


@given(frame=FRAMES)
@FUZZ
@example(frame=b"[" * 5000 + b"]" * 5000)
def test_engine_puts_every_rejected_frame_in_the_dlq(frame: bytes, dlq: DeadLetterQueue) -> None:
    support.tried("feed engine + DLQ")
    rejected = isinstance(ENGINE.adapter.codec().decode(frame), Rejected)
    ENGINE.receive_frame(frame, 1)
    ENGINE.events_received()
    ENGINE.requests_to_send()
    letters = ENGINE.dead_letters()
    if rejected:
        assert len(letters) == 1 and letters[0].raw == frame
    assert all(letter.raw == frame for letter in letters)
    for letter in letters:
        dlq.put("binance-spot", letter.stream, letter.reason, letter.raw)
        dlq.flush()
        stored = dlq.get(dlq.count())
        assert stored is not None and stored.raw == frame and stored.reason == letter.reason
