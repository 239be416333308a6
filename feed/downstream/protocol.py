"""The downstream wire protocol, pure: client requests parsed and validated, replies built, events routed.

No I/O here. :func:`parse_request` turns one client message into a :class:`Request` or raises
:class:`ProtocolError` (whose :meth:`~ProtocolError.reply` is the error message to send back);
:func:`route` says which (instrument, channel) subscription an event belongs to, from the event's
normalized fields only (no venue is named here). docs/downstream.md is the human-readable description of
the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from feed.events import STATUS_TYPES, FeedEvent

PROTOCOL_VERSION = 2
MAX_ID_LENGTH = 64
MAX_CHANNELS = 8

BOOK, TRADE, QUOTE, BAR, STATUS = "book", "trade", "quote", "bar", "status"
CORRECTION, TRADING_STATUS, NEWS = "correction", "trading_status", "news"
CHANNELS: tuple[str, ...] = (BOOK, TRADE, QUOTE, BAR, CORRECTION, TRADING_STATUS, NEWS, STATUS)
"""The event model's channels (feed.events.CHANNELS): book (snapshot then book updates), trade, quote,
bar, correction, trading_status, news, status (feed-wide connection and subscription events; no
instrument)."""
ALIASES = {"trades": TRADE, "quotes": QUOTE, "klines": BAR, "bars": BAR}
"""Protocol 1's channel names, still accepted."""
ALL = "*"
"""The instrument of the ``status`` channel's subscription key."""

OPS = ("subscribe", "unsubscribe", "list")

Key = tuple[str, str]
"""A subscription key: (instrument or ``*``, channel)."""


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
    instrument: str
    channels: tuple[str, ...]

    def subscription_keys(self) -> list[Key]:
        """The subscription keys this request names."""
        return [(ALL if ch == STATUS else self.instrument, ch) for ch in self.channels]


def route(event: FeedEvent) -> Key | None:
    """The subscription key an event is delivered to (None: nobody subscribes it)."""
    if event.type in STATUS_TYPES or event.channel == STATUS:
        return ALL, STATUS
    if event.instrument and event.channel:
        return event.instrument, event.channel
    return None


def resolve_instrument(given: str, instruments: frozenset[str]) -> str | None:
    """An instrument id as given, or the one instrument whose symbol is ``given`` (any case); None when
    there is none or several."""
    if given in instruments:
        return given
    wanted = given.upper()
    matches = [i for i in instruments if i.partition(":")[2].upper() == wanted]
    return matches[0] if len(matches) == 1 else None


def _request_id(doc: dict[str, Any]) -> int | str | None:
    value = doc.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ProtocolError("bad_request", f"id must be an integer or a string, got {type(value).__name__}")
    if isinstance(value, str) and len(value) > MAX_ID_LENGTH:
        raise ProtocolError("bad_request", f"id must be at most {MAX_ID_LENGTH} characters")
    return value


def parse_request(message: str | bytes, instruments: frozenset[str]) -> Request:
    """Validate one client message against the protocol and the instruments the feed ingests."""
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
    unknown = set(doc) - {"op", "id", "instrument", "symbol", "channels"}
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
    named = [ALIASES.get(str(c), str(c)) for c in channels]
    bad = [c for c in named if c not in CHANNELS]
    if bad:
        raise ProtocolError(
            "unknown_channel", f"unknown channel(s) {bad}: use {', '.join(CHANNELS)}", request_id
        )
    wanted = tuple(dict.fromkeys(named))
    given = doc.get("instrument", doc.get("symbol"))
    if "instrument" in doc and "symbol" in doc:
        raise ProtocolError("bad_request", "give instrument or symbol, not both", request_id)
    if set(wanted) == {STATUS} and given is None:
        return Request(op, request_id, ALL, wanted)
    if not isinstance(given, str) or not given:
        raise ProtocolError(
            "bad_request",
            'instrument is required (a string, e.g. "binance-spot:BTCUSDT"; or symbol, e.g. "btcusdt")',
            request_id,
        )
    instrument = resolve_instrument(given, instruments)
    if instrument is None:
        known = ", ".join(sorted(instruments)[:20])
        raise ProtocolError(
            "unknown_instrument",
            f"{given!r} is not one instrument this feed ingests (known: {known})",
            request_id,
        )
    return Request(op, request_id, instrument, wanted)


def reply(kind: str, request: Request, **fields: Any) -> dict[str, Any]:
    """A success reply to ``request`` (``subscribed``, ``unsubscribed``, ``subscriptions``)."""
    body: dict[str, Any] = {"type": kind, "id": request.id}
    if request.op != "list":
        body["instrument"] = request.instrument
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
