"""The downstream wire protocol, pure: client requests parsed and validated, replies built, events routed.

No I/O here. :func:`parse_request` turns one client message into a :class:`Request` or raises
:class:`ProtocolError` (whose :meth:`~ProtocolError.reply` is the error message to send back);
:func:`route` says which (symbol, channel) subscription an event belongs to. docs/downstream.md is the
human-readable description of the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from feed.events import FeedEvent

PROTOCOL_VERSION = 1
MAX_ID_LENGTH = 64
MAX_CHANNELS = 8

BOOK, TRADES, QUOTES, KLINES, STATUS = "book", "trades", "quotes", "klines", "status"
CHANNELS: tuple[str, ...] = (BOOK, TRADES, QUOTES, KLINES, STATUS)
"""book: snapshot then depth deltas; trades: trade/aggTrade; quotes: bookTicker; klines: kline_*;
status: feed-wide connection and subscription events (no symbol)."""
ALL_SYMBOLS = "*"
"""The symbol of the ``status`` channel's subscription key."""

OPS = ("subscribe", "unsubscribe", "list")

Key = tuple[str, str]
"""A subscription key: (lower-case symbol or ``*``, channel)."""


class ProtocolError(ValueError):
    """A client message that cannot be served; ``code`` is machine-readable, the message is for people."""

    def __init__(self, code: str, message: str, request_id: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.request_id = request_id

    def reply(self) -> dict[str, Any]:
        """The error reply sent to the client."""
        return {"type": "error", "id": self.request_id, "code": self.code, "error": str(self)}


@dataclass(frozen=True)
class Request:
    """One valid client request."""

    op: str
    id: int | str | None
    symbol: str
    channels: tuple[str, ...]

    def subscription_keys(self) -> list[Key]:
        """The subscription keys this request names."""
        return [(ALL_SYMBOLS if ch == STATUS else self.symbol, ch) for ch in self.channels]


def channel_of_stream(stream: str) -> Key | None:
    """``btcusdt@depth@100ms`` -> ``("btcusdt", "book")``; None for a stream kind with no channel."""
    symbol, _, kind = stream.partition("@")
    if not kind:
        return None
    if kind.startswith("depth"):
        return symbol, BOOK
    if kind in ("trade", "aggTrade"):
        return symbol, TRADES
    if kind == "bookTicker":
        return symbol, QUOTES
    if kind.startswith("kline_"):
        return symbol, KLINES
    return None


def route(event: FeedEvent) -> Key | None:
    """The subscription key an event is delivered to (None: nobody subscribes it)."""
    if event.stream:
        return channel_of_stream(event.stream)
    if event.type in ("connection", "subscription"):
        return ALL_SYMBOLS, STATUS
    if event.symbol:
        return event.symbol.lower(), BOOK
    return None


def _request_id(doc: dict[str, Any]) -> int | str | None:
    value = doc.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ProtocolError("bad_request", f"id must be an integer or a string, got {type(value).__name__}")
    if isinstance(value, str) and len(value) > MAX_ID_LENGTH:
        raise ProtocolError("bad_request", f"id must be at most {MAX_ID_LENGTH} characters")
    return value


def parse_request(message: str | bytes, symbols: frozenset[str]) -> Request:
    """Validate one client message against the protocol and the symbols the feed ingests (lower case)."""
    if isinstance(message, bytes | bytearray | memoryview):
        raise ProtocolError("bad_request", "binary frames are not accepted: send JSON text frames")
    try:
        doc = orjson.loads(message)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("bad_json", f"message is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ProtocolError("bad_request", "message must be a JSON object")
    request_id = _request_id(doc)
    op = doc.get("op")
    if op not in OPS:
        raise ProtocolError("unknown_op", f"op must be one of {', '.join(OPS)}, got {op!r}", request_id)
    unknown = set(doc) - {"op", "id", "symbol", "channels"}
    if unknown:
        raise ProtocolError("bad_request", f"unknown field(s): {', '.join(sorted(unknown))}", request_id)
    if op == "list":
        return Request("list", request_id, "", ())
    channels = doc.get("channels")
    if (
        not isinstance(channels, list)
        or not channels
        or len(channels) > MAX_CHANNELS
        or not all(isinstance(c, str) for c in channels)
    ):
        raise ProtocolError(
            "bad_request",
            f"channels must be a non-empty list of at most {MAX_CHANNELS} names ({', '.join(CHANNELS)})",
            request_id,
        )
    bad = [c for c in channels if c not in CHANNELS]
    if bad:
        raise ProtocolError(
            "unknown_channel", f"unknown channel(s) {bad}: use {', '.join(CHANNELS)}", request_id
        )
    wanted = tuple(dict.fromkeys(channels))
    symbol = doc.get("symbol")
    if set(wanted) == {STATUS} and symbol is None:
        return Request(op, request_id, ALL_SYMBOLS, wanted)
    if not isinstance(symbol, str) or not symbol:
        raise ProtocolError("bad_request", 'symbol is required (a string, e.g. "btcusdt")', request_id)
    symbol = symbol.lower()
    if symbol not in symbols:
        known = ", ".join(sorted(symbols)[:20])
        raise ProtocolError(
            "unknown_symbol", f"symbol {symbol!r} is not ingested by this feed (known: {known})", request_id
        )
    return Request(op, request_id, symbol, wanted)


def reply(kind: str, request: Request, **fields: Any) -> dict[str, Any]:
    """A success reply to ``request`` (``subscribed``, ``unsubscribed``, ``subscriptions``)."""
    body: dict[str, Any] = {"type": kind, "id": request.id}
    if request.op != "list":
        body["symbol"] = request.symbol
        body["channels"] = list(request.channels)
    body.update(fields)
    return body


_EVENT_ENCODER = msgspec.json.Encoder()


def encode_event(event: FeedEvent) -> bytes:
    """The one JSON encoding of an event, shared by every consumer that receives it."""
    return _EVENT_ENCODER.encode(event)


def encode(message: dict[str, Any]) -> bytes:
    """A control message (reply, welcome, snapshot, gap) as JSON."""
    return orjson.dumps(message)
