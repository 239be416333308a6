"""Binance spot codec: typed decoding of real recorded frames, rejections with reasons, never a raise."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feed.binance_spot import codec

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO / "mock_venues" / "recordings"


def recorded_frames(limit: int = 3000) -> list[bytes]:
    # The Binance recordings only (the Alpaca venue's slices are another format).
    files = sorted(p for p in RECORDINGS.rglob("*.norm.jsonl.gz") if not p.name.startswith("alpaca_"))
    frames: list[bytes] = []
    for path in files:
        with gzip.open(path, "rb") as fh:
            for line in fh:
                rec = orjson.loads(line)
                if rec["src"] == "ws" and rec["stream"]:
                    frames.append(orjson.dumps({"stream": rec["stream"], "data": rec["data"]}))
                if len(frames) >= limit * (files.index(path) + 1):
                    break
    return frames


def test_every_recorded_frame_decodes_to_a_market_event() -> None:
    frames = recorded_frames()
    assert len(frames) > 100, "the bundled recordings (mock_venues/recordings) are missing"
    kinds = set()
    for frame in frames:
        event = codec.decode(frame)
        assert not isinstance(event, codec.Rejected), (event.reason, frame[:200])
        kinds.add(type(event).__name__)
    assert {"Trade", "DepthUpdate", "BookTicker"} <= kinds


def test_raw_frames_use_the_connection_stream() -> None:
    frame = (
        b'{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000",'
        b'"a":"25.36520000","A":"40.66000000"}'
    )
    event = codec.decode(frame, stream="bnbusdt@bookTicker")
    assert isinstance(event, codec.BookTicker) and event.u == 400900217
    # without a stream the shape is recognised too
    assert isinstance(codec.decode(frame), codec.BookTicker)


def test_depth_levels_are_typed() -> None:
    frame = (
        b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":5,"u":7,'
        b'"b":[["61000.01","0.5"]],"a":[]}}'
    )
    event = codec.decode(frame)
    assert isinstance(event, codec.DepthUpdate)
    assert (event.U, event.u, event.b, event.a) == (5, 7, [("61000.01", "0.5")], [])


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1,2]", "expected a JSON object"),
        (
            b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"X","t":"12","p":"1","q":"1","T":1,"m":true}}',
            "invalid trade payload",
        ),
        (
            b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"X","t":12,"p":1.5,"q":"1","T":1,"m":true}}',
            "invalid trade payload",
        ),
        (
            b'{"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["1","2",[]]],"a":[]}}',
            "invalid depth payload",
        ),
        (
            b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"X","b":"abc","B":"1","a":"1","A":"1"}}',
            "invalid bookTicker payload",
        ),
        (b'{"stream":"btcusdt@nonsense","data":{}}', "unknown stream"),
        (b'{"e":"weird"}', "unrecognised message"),
    ],
)
def test_bad_frames_are_rejected_with_a_reason(frame: bytes, reason: str) -> None:
    event = codec.decode(frame)
    assert isinstance(event, codec.Rejected)
    assert reason in event.reason
    assert event.raw == frame


def test_control_replies_and_errors() -> None:
    assert codec.decode(b'{"result":null,"id":1}') == codec.ControlReply(1, None)
    assert codec.decode(b'{"result":["a@trade"],"id":"x-1"}') == codec.ControlReply("x-1", ["a@trade"])
    err = codec.decode(b'{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":null}')
    assert err == codec.ControlError(None, 2, "Invalid request: invalid stream")


def test_server_shutdown_in_both_shapes() -> None:
    assert codec.decode(b'{"e":"serverShutdown","E":5}') == codec.ServerShutdown(5)
    combined = b'{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":6}}'
    assert codec.decode(combined) == codec.ServerShutdown(6)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=5)
    ),
    max_leaves=20,
)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert isinstance(codec.decode(data), codec.Decoded)


@given(
    json_values, st.sampled_from(["btcusdt@trade", "btcusdt@depth@100ms", "x@bookTicker", "y@kline_1m", "?"])
)
def test_arbitrary_json_shapes_never_raise(value: object, stream: str) -> None:
    body = orjson.dumps(value)
    for frame in (body, orjson.dumps({"stream": stream, "data": value})):
        result = codec.decode(frame, stream=stream)
        assert isinstance(result, codec.Decoded)
        if isinstance(result, codec.Rejected):
            assert result.reason and result.raw == frame
