"""Binance spot stream codec: frame bytes in, typed events out. Pure: no I/O, no clock.

Payloads are decoded with msgspec into strict structs (ids and times integers, prices and quantities
decimal strings, depth levels exactly ``[price, qty]``), so a frame that does not match Binance's schema
is rejected with the decoder's own explanation instead of surfacing later as a wrong number. Combined
frames (``{"stream": ..., "data": ...}``) are unwrapped first; control replies and errors are recognised.

Every frame decodes to exactly one of: a market event, a :class:`~feed.adapter.ControlReply`, a
:class:`~feed.adapter.ControlError`, a :class:`ServerShutdown`, or a :class:`~feed.adapter.Rejected` (which
the feed puts in the dead letter queue with the raw bytes and the reason). :func:`decode` never raises.
:class:`BinanceSpotCodec` is the same decoding in the adapter's terms (:class:`~feed.adapter.Market`
items carrying the continuity ids and the exchange time).
"""

from __future__ import annotations

from typing import Any

import msgspec

from feed import adapter
from feed.adapter import ControlError, ControlReply, Rejected

Decimal = str  # a decimal number as a JSON string; checked by _invalid_decimals after decoding
Level = tuple[Decimal, Decimal]


class Trade(msgspec.Struct, frozen=True, gc=False):
    """``<symbol>@trade``."""

    E: int
    s: str
    t: int
    p: Decimal
    q: Decimal
    T: int
    m: bool
    M: bool = True


class AggTrade(msgspec.Struct, frozen=True, gc=False):
    """``<symbol>@aggTrade``: one taker order's fills at one price."""

    E: int
    s: str
    a: int
    p: Decimal
    q: Decimal
    f: int
    l: int  # noqa: E741 (Binance's field name)
    T: int
    m: bool
    M: bool = True


class DepthUpdate(msgspec.Struct, frozen=True, gc=False):
    """``<symbol>@depth[@100ms]``: absolute quantities for changed levels, update ids ``U``..``u``."""

    E: int
    s: str
    U: int
    u: int
    b: list[Level]
    a: list[Level]


class BookTicker(msgspec.Struct, frozen=True, gc=False):
    """``<symbol>@bookTicker``: best bid/ask; ``u`` is in the depth update id space."""

    u: int
    s: str
    b: Decimal
    B: Decimal
    a: Decimal
    A: Decimal


class KlineBody(msgspec.Struct, frozen=True, gc=False):
    """The candle inside a kline event."""

    t: int
    T: int
    s: str
    i: str
    f: int
    L: int
    o: Decimal
    c: Decimal
    h: Decimal
    l: Decimal  # noqa: E741
    v: Decimal
    n: int
    x: bool
    q: Decimal
    V: Decimal
    Q: Decimal


class Kline(msgspec.Struct, frozen=True, gc=False):
    """``<symbol>@kline_<interval>``."""

    E: int
    s: str
    k: KlineBody


class ServerShutdown(msgspec.Struct, frozen=True):
    """The venue announced it is about to close the connection."""

    E: int


MarketEvent = Trade | AggTrade | DepthUpdate | BookTicker | Kline
Decoded = (
    Trade
    | AggTrade
    | DepthUpdate
    | BookTicker
    | Kline
    | ControlReply
    | ControlError
    | ServerShutdown
    | Rejected
)


class _Combined(msgspec.Struct, frozen=True):
    stream: str
    data: msgspec.Raw


class _ErrorBody(msgspec.Struct, frozen=True):
    code: int
    msg: str


class _ErrorReply(msgspec.Struct, frozen=True):
    error: _ErrorBody
    id: int | str | None = None


_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "trade": msgspec.json.Decoder(Trade),
    "aggTrade": msgspec.json.Decoder(AggTrade),
    "depth": msgspec.json.Decoder(DepthUpdate),
    "bookTicker": msgspec.json.Decoder(BookTicker),
    "kline": msgspec.json.Decoder(Kline),
}
_COMBINED = msgspec.json.Decoder(_Combined)
_ERROR = msgspec.json.Decoder(_ErrorReply)
_ANY = msgspec.json.Decoder()
_DECODE_ERRORS = (msgspec.DecodeError, RecursionError)
"""What msgspec raises for a frame it cannot decode: DecodeError (ValidationError is one), and RecursionError
for JSON nested past its depth limit (found by tests/fuzz)."""
_EVENT_KIND = {"trade": "trade", "aggTrade": "aggTrade", "depthUpdate": "depth", "kline": "kline"}


def stream_kind(stream: str) -> str | None:
    """The payload kind a stream name carries: ``btcusdt@depth@100ms`` → ``depth``; None if unsupported."""
    _, _, rest = stream.partition("@")
    kind = rest.split("@", 1)[0]
    if kind.startswith("kline_"):
        return "kline"
    if kind == "depth":
        return "depth"
    return kind if kind in _DECODERS else None


def decode_payload(kind: str, data: bytes | memoryview, raw: bytes, stream: str | None) -> Decoded:
    """Decode one payload of a known kind (the stream says which)."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        return Rejected(raw, f"unsupported stream kind {kind!r}", stream)
    try:
        event: Decoded = decoder.decode(data)
    except _DECODE_ERRORS as exc:
        return Rejected(raw, f"invalid {kind} payload: {exc}", stream)
    bad = _BAD_DECIMAL[kind](event)
    if bad is not None:
        return Rejected(raw, f"invalid {kind} payload: {bad!r} is not a decimal number", stream)
    return event


_DIGITS = "0123456789"


def _is_decimal(text: str) -> bool:
    """``digits[.digits]`` (how Binance sends prices and quantities), checked without a regex."""
    rest = text.strip(_DIGITS)
    if not rest:
        return bool(text)
    return rest == "." and text[0] != "." and text[-1] != "."


def _first_bad(values: tuple[str, ...]) -> str | None:
    for value in values:
        if not _is_decimal(value):
            return value
    return None


def _bad_depth(event: Any) -> str | None:
    for side in (event.b, event.a):
        for price, qty in side:
            if not _is_decimal(price):
                return str(price)
            if not _is_decimal(qty):
                return str(qty)
    return None


def _bad_kline(event: Any) -> str | None:
    k = event.k
    return _first_bad((k.o, k.c, k.h, k.l, k.v, k.q, k.V, k.Q))


# Per payload kind: the first price/quantity string that is not a decimal number, if any. (A regex
# constraint in the msgspec decoder made depth updates about seven times slower to decode.)
_BAD_DECIMAL: dict[str, Any] = {
    "trade": lambda e: _first_bad((e.p, e.q)),
    "aggTrade": lambda e: _first_bad((e.p, e.q)),
    "depth": _bad_depth,
    "bookTicker": lambda e: _first_bad((e.b, e.B, e.a, e.A)),
    "kline": _bad_kline,
}


def decode(frame: bytes | str, stream: str | None = None) -> Decoded:
    """Decode one text frame; ``stream`` is the connection's single stream for raw (unwrapped) frames."""
    return decode_frame(frame, stream)[1]


def decode_frame(frame: bytes | str, stream: str | None = None) -> tuple[str | None, Decoded]:
    """Like :func:`decode`, also returning the frame's stream (the wrapper's, else ``stream``)."""
    raw = frame.encode() if isinstance(frame, str) else bytes(frame)
    if raw.startswith(_PREFIX):
        # Fast path for Binance's exact wrapper layout: decode the payload in place, no second parse.
        end = raw.find(b'","data":', _PREFIX_LEN, _PREFIX_LEN + 120)
        if end > 0 and raw.endswith(b"}"):
            name = raw[_PREFIX_LEN:end].decode("utf-8", "replace")
            kind = stream_kind(name)
            if kind is not None:
                decoded = decode_payload(kind, memoryview(raw)[end + 9 : -1], raw, name)
                if not isinstance(decoded, Rejected):
                    return name, decoded
    head = raw[:12]
    if head.startswith(b'{"stream"'):
        try:
            wrapper = _COMBINED.decode(raw)
        except _DECODE_ERRORS as exc:
            hint = _stream_hint(raw)
            return hint, Rejected(raw, f"invalid combined-stream frame: {exc}", hint)
        if wrapper.stream == "!serverShutdown":
            return wrapper.stream, _shutdown(wrapper.data, raw)
        kind = stream_kind(wrapper.stream)
        if kind is None:
            return wrapper.stream, Rejected(raw, f"unknown stream {wrapper.stream!r}", wrapper.stream)
        return wrapper.stream, decode_payload(kind, wrapper.data, raw, wrapper.stream)
    if stream is not None and (kind := stream_kind(stream)) is not None and not head.startswith(b'{"result"'):
        decoded = decode_payload(kind, raw, raw, stream)
        if not isinstance(decoded, Rejected):
            return stream, decoded
    return stream, _decode_untyped(raw, stream)


def _shutdown(data: bytes | memoryview, raw: bytes) -> Decoded:
    try:
        return msgspec.json.decode(data, type=ServerShutdown)
    except _DECODE_ERRORS as exc:
        return Rejected(raw, f"invalid serverShutdown event: {exc}", "!serverShutdown")


def _decode_untyped(raw: bytes, stream: str | None) -> Decoded:
    """Frames whose shape is not known in advance: control replies, errors, raw events by their ``e``."""
    try:
        doc = _ANY.decode(raw)
    except _DECODE_ERRORS as exc:
        return Rejected(raw, f"malformed JSON: {exc}", stream)
    if not isinstance(doc, dict):
        return Rejected(raw, f"expected a JSON object, got {type(doc).__name__}", stream)
    if "error" in doc:
        try:
            err = _ERROR.decode(raw)
        except _DECODE_ERRORS as exc:
            return Rejected(raw, f"invalid error reply: {exc}", stream)
        return ControlError(err.id, err.error.code, err.error.msg)
    if "result" in doc and "id" in doc:
        ident = doc["id"]
        if ident is not None and not isinstance(ident, int | str):
            return Rejected(raw, "control reply id must be an integer, a string or null", stream)
        return ControlReply(ident, doc["result"])
    event = doc.get("e")
    if event == "serverShutdown":
        return _shutdown(raw, raw)
    kind = _EVENT_KIND.get(event) if isinstance(event, str) else None
    if kind is None and {"u", "s", "b", "B", "a", "A"} <= doc.keys():
        kind = "bookTicker"
    if kind is None:
        return Rejected(raw, f"unrecognised message (event type {event!r})", stream)
    return decode_payload(kind, raw, raw, stream)


_PREFIX = b'{"stream":"'
_PREFIX_LEN = len(_PREFIX)


def _stream_hint(raw: bytes) -> str | None:
    """The stream name at the start of a combined frame that failed to parse (for the DLQ), if legible."""
    prefix = b'{"stream":"'
    if not raw.startswith(prefix):
        return None
    end = raw.find(b'"', len(prefix), len(prefix) + 120)
    if end < 0:
        return None
    try:
        return raw[len(prefix) : end].decode()
    except UnicodeDecodeError:
        return None


_NS_PER_MS = 1_000_000


def to_market(stream: str, event: MarketEvent) -> adapter.Market:
    """A decoded payload as the adapter's market item: continuity ids (trade ``t``, aggregate ``a``, diff
    ``U``..``u``, bookTicker ``u``, kline event time ``E``) and the event time in Unix ns."""
    if isinstance(event, DepthUpdate):
        return adapter.Market(stream, event.u, event.U, event.E * _NS_PER_MS, event)
    if isinstance(event, Trade):
        return adapter.Market(stream, event.t, None, event.E * _NS_PER_MS, event)
    if isinstance(event, AggTrade):
        return adapter.Market(stream, event.a, None, event.E * _NS_PER_MS, event)
    if isinstance(event, BookTicker):
        return adapter.Market(stream, event.u, None, None, event)
    return adapter.Market(stream, event.E, None, event.E * _NS_PER_MS, event)


class BinanceSpotCodec:
    """The adapter's codec: a combined-stream frame in, one :data:`feed.adapter.Decoded` item out."""

    def decode(self, frame: bytes) -> adapter.Decoded:
        """Decode one frame (never raises)."""
        stream, decoded = decode_frame(frame)
        if isinstance(decoded, Rejected | ControlReply | ControlError):
            return decoded
        if isinstance(decoded, ServerShutdown):
            return adapter.Notice("server_shutdown", {"venue_time_ms": decoded.E})
        if stream is None:
            return Rejected(frame, "market data without a stream name (raw frame on a combined connection)")
        return to_market(stream, decoded)
