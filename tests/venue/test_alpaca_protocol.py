"""The Alpaca venue's pure parts: wire codec (JSON, msgpack, times), requests, the session state machine."""

from __future__ import annotations

import msgpack
import orjson
import pytest

from mock_venues.alpaca.codec import (
    ERRORS,
    Auth,
    BadRequest,
    Encoding,
    Subscribe,
    decode_frame,
    decode_request,
    encode,
    encoding_for,
    parse_rfc3339,
    rfc3339_ns,
    transcode_to_json,
)
from mock_venues.alpaca.protocol import AlpacaProtocol, Endpoint, Market, parse_path

T = 1_381_152_540_035_000_123  # 2013-10-07T13:29:00.035000123Z


def test_encoding_follows_the_content_type() -> None:
    assert encoding_for("application/msgpack") is Encoding.MSGPACK
    assert encoding_for("Application/MsgPack; charset=x") is Encoding.MSGPACK
    assert encoding_for("application/json") is Encoding.JSON
    assert encoding_for(None) is Encoding.JSON


def test_rfc3339_with_nanoseconds_round_trips() -> None:
    assert rfc3339_ns(T) == "2013-10-07T13:29:00.035000123Z"
    assert rfc3339_ns(1_381_152_540 * 10**9) == "2013-10-07T13:29:00Z"
    assert parse_rfc3339("2013-10-07T13:29:00.035000123Z") == T
    assert parse_rfc3339("2013-10-07T09:29:00.035000123-04:00") == T
    assert parse_rfc3339("2013-10-07") == 1_381_104_000 * 10**9
    with pytest.raises(ValueError):
        parse_rfc3339("2013-10-07T13:29:00")  # no zone


def test_msgpack_times_are_timestamp_extensions() -> None:
    frame = encode([{"T": "t", "S": "IBM", "t": T, "p": 181.75}], Encoding.MSGPACK)
    ext_types = []
    msgpack.unpackb(frame, ext_hook=lambda code, data: ext_types.append(code), timestamp=0)
    raw = msgpack.unpackb(frame)  # the default decoder returns msgpack.Timestamp for ext -1
    assert isinstance(raw[0]["t"], msgpack.Timestamp) and raw[0]["t"].to_unix_nano() == T
    assert decode_frame(frame, Encoding.MSGPACK) == [{"T": "t", "S": "IBM", "t": T, "p": 181.75}]
    news = encode([{"T": "n", "created_at": T, "updated_at": T, "id": 1}], Encoding.MSGPACK)
    item = msgpack.unpackb(news)[0]
    assert isinstance(item["created_at"], msgpack.Timestamp) and isinstance(
        item["updated_at"], msgpack.Timestamp
    )


def test_json_times_are_rfc3339_strings_and_transcoding_matches() -> None:
    msg = {"T": "q", "S": "IBM", "bp": 181.6, "t": T}
    frame = encode([msg], Encoding.JSON)
    assert orjson.loads(frame) == [{"T": "q", "S": "IBM", "bp": 181.6, "t": "2013-10-07T13:29:00.035000123Z"}]
    assert transcode_to_json(encode([msg], Encoding.MSGPACK)) == frame
    with pytest.raises(ValueError):
        transcode_to_json(b"\xc1not msgpack")


def test_requests_decode_from_json_and_msgpack() -> None:
    auth = {"action": "auth", "key": "k", "secret": "s"}
    assert decode_request(orjson.dumps(auth).decode()) == Auth("k", "s")
    assert decode_request(msgpack.packb(auth)) == Auth("k", "s")
    sub = decode_request(msgpack.packb({"action": "subscribe", "trades": ["IBM", "IBM"], "bars": ["*"]}))
    assert sub == Subscribe(False, {"trades": ("IBM",), "bars": ("*",)})
    assert decode_request('{"action":"unsubscribe","quotes":["BTC/USD"]}') == Subscribe(
        True, {"quotes": ("BTC/USD",)}
    )
    for bad in (
        "[]",
        "{}",
        '{"action":"auth"}',
        '{"action":"subscribe","trades":"IBM"}',
        '{"action":"subscribe","trades":["I B M"]}',
        b"\xc1",
        "not json",
    ):
        assert isinstance(decode_request(bad), BadRequest), bad


def test_paths() -> None:
    assert parse_path("/v2/iex") == Endpoint(Market.STOCKS, "iex", "/v2/iex")
    assert parse_path("/v2/sip?x=1").market is Market.STOCKS  # type: ignore[union-attr]
    assert parse_path("/v2/test").feed == "test"  # type: ignore[union-attr]
    assert parse_path("/v1beta3/crypto/us").market is Market.CRYPTO  # type: ignore[union-attr]
    assert parse_path("/v1beta1/opra").market is Market.OPTIONS  # type: ignore[union-attr]
    assert parse_path("/v1beta1/indicative").market is Market.OPTIONS  # type: ignore[union-attr]
    assert parse_path("/v1beta1/news").market is Market.NEWS  # type: ignore[union-attr]
    for bad in ("/", "/v2/nasdaq", "/v1beta3/crypto/eu-9", "/stream"):
        assert parse_path(bad) is None


def _proto(
    market: Market = Market.STOCKS, encoding: Encoding = Encoding.JSON, code: int | None = None, **kw: object
) -> AlpacaProtocol:
    path = {
        Market.STOCKS: "/v2/iex",
        Market.CRYPTO: "/v1beta3/crypto/us",
        Market.OPTIONS: "/v1beta1/opra",
        Market.NEWS: "/v1beta1/news",
    }[market]
    endpoint = parse_path(path)
    assert endpoint is not None
    return AlpacaProtocol(endpoint, encoding, lambda k, s: code, **kw)  # type: ignore[arg-type]


def _codes(out: object) -> list[object]:
    return [r.get("code", r.get("msg")) for r in out.replies]  # type: ignore[attr-defined]


def test_session_greeting_auth_and_errors() -> None:
    p = _proto()
    assert p.on_connect().replies == [{"T": "success", "msg": "connected"}]
    assert _codes(p.on_request(Subscribe(False, {"trades": ("IBM",)}))) == [401]
    assert _codes(p.on_request(BadRequest("x"))) == [400]
    out = p.on_request(Auth("k", "s"))
    assert out.replies == [{"T": "success", "msg": "authenticated"}] and out.authenticated and not out.close
    assert _codes(p.on_request(Auth("k", "s"))) == [403]
    assert p.on_auth_timeout().replies == []


@pytest.mark.parametrize(("code", "closes"), [(402, True), (409, True), (406, False)])
def test_refused_auth(code: int, closes: bool) -> None:
    p = _proto(code=code)
    p.on_connect()
    out = p.on_request(Auth("k", "s"))
    assert out.replies == [{"T": "error", "code": code, "msg": ERRORS[code]}]
    assert out.close is closes and not p.authenticated


def test_header_credentials_authenticate_after_the_greeting() -> None:
    p = _proto(header_credentials=("k", "s"))
    assert _codes(p.on_connect()) == ["connected", "authenticated"]
    assert p.authenticated


def test_auth_timeout_is_404_and_close() -> None:
    out = _proto().on_auth_timeout()
    assert out.replies == [{"T": "error", "code": 404, "msg": "auth timeout"}] and out.close


def test_options_refuse_json_with_412() -> None:
    out = _proto(Market.OPTIONS, Encoding.JSON).on_connect()
    assert out.replies == [
        {"T": "error", "code": 412, "msg": "option messages are only available in MsgPack format"}
    ]
    assert out.close
    assert _codes(_proto(Market.OPTIONS, Encoding.MSGPACK).on_connect()) == ["connected"]


def test_stock_subscription_echo_is_complete_and_trades_add_corrections() -> None:
    p = _proto()
    p.on_connect()
    p.on_request(Auth("k", "s"))
    out = p.on_request(Subscribe(False, {"trades": ("IBM",), "quotes": ("BAC", "IBM"), "bars": ("*",)}))
    assert out.replies == [
        {
            "T": "subscription",
            "trades": ["IBM"],
            "quotes": ["BAC", "IBM"],
            "bars": ["*"],
            "updatedBars": [],
            "dailyBars": [],
            "statuses": [],
            "lulds": [],
            "corrections": ["IBM"],
            "cancelErrors": ["IBM"],
        }
    ]
    assert out.streams_changed
    streams = p.streams(lambda channel: ["BAC", "IBM"])
    assert streams == {
        "trades.IBM",
        "quotes.BAC",
        "quotes.IBM",
        "bars.BAC",
        "bars.IBM",
        "corrections.IBM",
        "cancelErrors.IBM",
    }
    out = p.on_request(Subscribe(True, {"trades": ("IBM",)}))
    assert out.replies[0]["trades"] == [] and out.replies[0]["corrections"] == []
    assert out.replies[0]["quotes"] == ["BAC", "IBM"]


def test_channel_errors() -> None:
    p = _proto()
    p.on_connect()
    p.on_request(Auth("k", "s"))
    assert _codes(p.on_request(Subscribe(False, {"orderbooks": ("IBM",)}))) == [410]
    assert _codes(p.on_request(Subscribe(False, {"corrections": ("IBM",)}))) == [410]
    o = _proto(Market.OPTIONS, Encoding.MSGPACK)
    o.on_connect()
    o.on_request(Auth("k", "s"))
    assert _codes(o.on_request(Subscribe(False, {"quotes": ("*",)}))) == [413]
    assert _codes(o.on_request(Subscribe(False, {"bars": ("SPY",)}))) == [410]
    assert o.on_request(Subscribe(False, {"trades": ("*",)})).replies == [
        {"T": "subscription", "trades": ["*"], "quotes": []}
    ]
    n = _proto(Market.NEWS)
    n.on_connect()
    n.on_request(Auth("k", "s"))
    assert _codes(n.on_request(Subscribe(False, {"trades": ("*",)}))) == [410]
    assert n.on_request(Subscribe(False, {"news": ("*",)})).replies == [{"T": "subscription", "news": ["*"]}]
    assert n.streams(lambda channel: []) == {"news.*"}
    c = _proto(Market.CRYPTO)
    c.on_connect()
    c.on_request(Auth("k", "s"))
    assert c.on_request(Subscribe(False, {"orderbooks": ("BTC/USD",)})).replies == [
        {
            "T": "subscription",
            "trades": [],
            "quotes": [],
            "orderbooks": ["BTC/USD"],
            "bars": [],
            "updatedBars": [],
            "dailyBars": [],
        }
    ]


def test_symbol_limit_keeps_the_previous_set() -> None:
    p = _proto(symbol_limit=2)
    p.on_connect()
    p.on_request(Auth("k", "s"))
    p.on_request(Subscribe(False, {"trades": ("IBM",)}))
    out = p.on_request(Subscribe(False, {"quotes": ("BAC", "AAPL")}))
    assert out.replies == [{"T": "error", "code": 405, "msg": "symbol limit exceeded"}]
    assert p.subscription_message()["quotes"] == [] and p.subscription_message()["trades"] == ["IBM"]
    assert p.on_request(Subscribe(False, {"bars": ("A", "B", "C")})).replies[0]["T"] == "subscription"
