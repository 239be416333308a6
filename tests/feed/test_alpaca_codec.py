"""The Alpaca codec is pure: JSON and msgpack frames in, market items and control answers out, no raise."""

from __future__ import annotations

import msgpack
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feed.adapter import ControlError, ControlReply, Market, Notice, Rejected
from feed.alpaca.codec import AlpacaCodec, decode, format_rfc3339_ns, parse_rfc3339_ns

T_NS = 1680782066838232225
T_TEXT = "2023-04-06T11:54:26.838232225Z"
TRADE = {"T": "t", "S": "AAPL", "i": 628, "x": "K", "p": 162.92, "s": 3, "c": ["@"], "z": "C", "t": T_TEXT}


def packed(messages: list[dict]) -> bytes:
    def ts(doc: dict) -> dict:
        out = dict(doc)
        for name in ("t", "created_at", "updated_at"):
            if isinstance(out.get(name), str):
                out[name] = msgpack.Timestamp.from_unix_nano(parse_rfc3339_ns(out[name]))
        return out

    return msgpack.packb([ts(m) for m in messages])


def test_rfc3339_round_trip_keeps_nanoseconds() -> None:
    assert parse_rfc3339_ns(T_TEXT) == T_NS
    assert format_rfc3339_ns(T_NS) == T_TEXT
    assert parse_rfc3339_ns("2021-02-22T15:51:44Z") == 1614009104 * 10**9
    assert parse_rfc3339_ns("2021-02-22T16:51:44.5+01:00") == 1614009104 * 10**9 + 500_000_000
    with pytest.raises(ValueError):
        parse_rfc3339_ns("yesterday")


@pytest.mark.parametrize("encode", [orjson.dumps, packed], ids=["json", "msgpack"])
def test_stock_trade_keyed_by_exchange_and_id(encode) -> None:
    item = AlpacaCodec().decode(encode([TRADE]))
    assert isinstance(item, Market)
    assert item.stream == "trades.AAPL"
    assert (item.id, item.key, item.exchange_ns) == (628, ("K", 628), T_NS)
    assert item.data["t"] == T_TEXT  # msgpack timestamps are written as RFC-3339 strings
    orjson.dumps(item.data)


@pytest.mark.parametrize("encode", [orjson.dumps, packed], ids=["json", "msgpack"])
def test_batched_frame_gives_every_message_in_order(encode) -> None:
    crypto = {"T": "t", "S": "BTC/USD", "p": 71000.5, "s": 0.01, "t": T_TEXT, "i": 77, "tks": "B"}
    quote = {"T": "q", "S": "AMD", "bx": "K", "bp": 91.95, "bs": 2, "ax": "Q", "ap": 91.98, "as": 1,
             "c": ["R"], "z": "C", "t": T_TEXT}  # fmt: skip
    bar = {"T": "b", "S": "AAPL", "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 10, "t": T_TEXT, "n": 3, "vw": 1.2}
    items = AlpacaCodec().decode(encode([TRADE, crypto, quote, bar]))
    assert isinstance(items, list)
    assert [i.stream for i in items] == ["trades.AAPL", "trades.BTC/USD", "quotes.AMD", "bars.AAPL"]
    assert items[1].key == 77 and items[1].id == 77  # crypto trades: the id alone is the key


def test_book_correction_cancel_status_news() -> None:
    book = {"T": "o", "S": "BTC/USD", "t": T_TEXT, "b": [{"p": 1.5, "s": 2}], "a": [], "r": True}
    corr = {"T": "c", "S": "AAPL", "x": "K", "oi": 628, "op": 1, "os": 1, "oc": [], "ci": 629, "cp": 2,
            "cs": 1, "cc": [], "t": T_TEXT, "z": "C"}  # fmt: skip
    cancel = {"T": "x", "S": "AAPL", "i": 628, "x": "K", "p": 1, "s": 1, "a": "C", "t": T_TEXT, "z": "C"}
    status = {"T": "s", "S": "AAPL", "sc": "H", "sm": "Halt", "rc": "T12", "rm": "x", "t": T_TEXT, "z": "C"}
    luld = {"T": "l", "S": "AAPL", "u": 2.0, "d": 1.0, "i": "B", "t": T_TEXT, "z": "C"}
    news = {"T": "n", "id": 24843171, "headline": "h", "summary": "", "author": "a", "created_at": T_TEXT,
            "updated_at": T_TEXT, "url": None, "content": "", "symbols": ["AAPL"],
            "source": "benzinga"}  # fmt: skip
    items = decode(packed([book, corr, cancel, status, luld, news]))
    streams = ["orderbooks.BTC/USD", "corrections.AAPL", "cancelErrors.AAPL", "statuses.AAPL", "lulds.AAPL"]
    assert [i.stream for i in items] == [*streams, "news.*"]  # type: ignore[union-attr]
    assert items[0].data["r"] is True  # type: ignore[union-attr]
    assert (items[1].id, items[1].refers) == (628, ("K", 628))  # type: ignore[union-attr]
    assert (items[2].id, items[2].refers) == (628, ("K", 628))  # type: ignore[union-attr]
    assert items[5].id == 24843171 and items[5].data["created_at"] == T_TEXT  # type: ignore[union-attr]


def test_control_messages() -> None:
    codec = AlpacaCodec()
    assert codec.decode(b'[{"T":"success","msg":"connected"}]') == Notice("connected")
    assert codec.decode(packed([{"T": "success", "msg": "authenticated"}])) == Notice("authenticated")
    assert codec.decode(b'[{"T":"error","code":406,"msg":"connection limit exceeded"}]') == ControlError(
        None, 406, "connection limit exceeded"
    )
    reply = codec.decode(b'[{"T":"subscription","trades":["AAPL"],"quotes":[]}]')
    assert reply == ControlReply(None, {"trades": ["AAPL"], "quotes": []})


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"[{not json", "malformed JSON"),
        (b"\xc1\xc1", "malformed msgpack"),
        (b'{"T":"t"}', "expected an array"),
        (b"[1]", "unrecognised message"),
        (b'[{"T":"zz"}]', "unrecognised message"),
        (b'[{"T":"t","S":"AAPL","p":"1","s":1,"t":"2023-04-06T11:54:26Z"}]', "invalid trades payload"),
        (b'[{"T":"t","S":"AAPL","p":1,"s":1,"t":"soon"}]', "invalid trades payload"),
        (b'[{"T":"o","S":"BTC/USD","t":"2023-04-06T11:54:26Z","b":[[1,2]],"a":[]}]', "invalid orderbooks"),
        (b'[{"T":"error","code":"x"}]', "invalid error reply"),
    ],
)
def test_malformed_frames_are_rejected_with_their_raw_bytes(frame: bytes, reason: str) -> None:
    item = AlpacaCodec().decode(frame)
    assert isinstance(item, Rejected)
    assert item.raw == frame
    assert item.reason.startswith(reason), item.reason


def test_one_bad_message_in_a_batch_is_rejected_alone() -> None:
    items = decode(orjson.dumps([TRADE, {"T": "q", "S": "AAPL"}]))
    assert isinstance(items[0], Market)
    assert isinstance(items[1], Rejected) and items[1].stream == "quotes.AAPL"
    assert orjson.loads(items[1].raw) == {"T": "q", "S": "AAPL"}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_never_raises_on_arbitrary_bytes(frame: bytes) -> None:
    out = AlpacaCodec().decode(frame)
    assert out is not None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["T", "S", "t", "p", "s", "i", "x", "b", "a", "r", "oi", "ci", "code", "msg"]),
            st.one_of(
                st.none(),
                st.integers(-(2**63), 2**63 - 1),
                st.floats(allow_nan=False),
                st.text(max_size=5),
                st.sampled_from(["t", "q", "o", "c", "x", "error", "success", T_TEXT]),
                st.lists(st.integers(0, 2**32), max_size=2),
            ),
        ),
        max_size=4,
    )
)
def test_never_raises_on_arbitrary_messages(messages: list[dict]) -> None:
    for frame in (orjson.dumps(messages), msgpack.packb(messages)):
        AlpacaCodec().decode(frame)
