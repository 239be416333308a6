"""Alpaca's market-data wire formats, pure: messages to frames (JSON or msgpack), client frames to requests.

Server frames are always arrays of objects with ``T``. In msgpack the timestamps ``t`` (and news
``created_at``/``updated_at``) are msgpack Timestamp extension values (ext type -1); in JSON they are
RFC-3339 strings with nanoseconds. Client frames may be JSON (text) or msgpack (binary) in either session
encoding. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import msgpack
import orjson

TIME_KEYS = ("t", "created_at", "updated_at")
NS = 1_000_000_000


class Encoding(Enum):
    """A session's wire encoding (chosen by the handshake's Content-Type)."""

    JSON = "json"
    MSGPACK = "msgpack"


def encoding_for(content_type: str | None) -> Encoding:
    """``application/msgpack`` (any parameters) -> msgpack; anything else -> JSON (Alpaca's default)."""
    if content_type and content_type.split(";", 1)[0].strip().lower() == "application/msgpack":
        return Encoding.MSGPACK
    return Encoding.JSON


def rfc3339_ns(ns: int) -> str:
    """Unix ns as ``2021-02-22T15:51:44.208000000Z`` (nanoseconds; whole seconds without a fraction)."""
    seconds, frac = divmod(ns, NS)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z" if frac else f"{base}Z"


def parse_rfc3339(text: str) -> int:
    """An RFC-3339 time (``Z`` or an offset, up to ns, or a date ``YYYY-MM-DD``) as Unix ns (ValueError)."""
    text = text.strip()
    if len(text) == 10:
        return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()) * NS
    frac_ns = 0
    main = text
    if "." in text:
        head, tail = text.split(".", 1)
        digits = ""
        rest = tail
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        if not digits or len(digits) > 9:
            raise ValueError(f"bad fraction in {text!r}")
        frac_ns = int(digits.ljust(9, "0"))
        main = head + rest
    main = main.replace("Z", "+00:00").replace("z", "+00:00")
    dt = datetime.fromisoformat(main)
    if dt.tzinfo is None:
        raise ValueError(f"time without zone: {text!r}")
    return int(dt.timestamp()) * NS + frac_ns


def _msgpack_value(msg: dict[str, Any]) -> dict[str, Any]:
    out = dict(msg)
    for key in TIME_KEYS:
        value = out.get(key)
        if isinstance(value, int):
            out[key] = msgpack.Timestamp.from_unix_nano(value)
    return out


def _json_value(msg: dict[str, Any]) -> dict[str, Any]:
    out = dict(msg)
    for key in TIME_KEYS:
        value = out.get(key)
        if isinstance(value, int):
            out[key] = rfc3339_ns(value)
    return out


def encode(messages: list[dict[str, Any]], encoding: Encoding) -> bytes:
    """One frame: the array of ``messages`` (times as int Unix ns become the encoding's time values)."""
    if encoding is Encoding.MSGPACK:
        return msgpack.packb([_msgpack_value(m) for m in messages], use_bin_type=True)
    return orjson.dumps([_json_value(m) for m in messages])


def decode_frame(frame: bytes | str, encoding: Encoding) -> list[dict[str, Any]]:
    """A server frame back to messages with times as int ns (tests, reference clients; ValueError)."""
    if encoding is Encoding.MSGPACK:
        assert isinstance(frame, bytes)
        doc = msgpack.unpackb(frame, timestamp=0)
        items = []
        for m in doc:
            items.append(
                {k: (v.to_unix_nano() if isinstance(v, msgpack.Timestamp) else v) for k, v in m.items()}
            )
        return items
    doc = orjson.loads(frame)
    return [
        {k: (parse_rfc3339(v) if k in TIME_KEYS and isinstance(v, str) else v) for k, v in m.items()}
        for m in doc
    ]


def transcode_to_json(frame: bytes) -> bytes:
    """A msgpack frame as the same frame in JSON (ValueError if it is not msgpack)."""
    try:
        doc = msgpack.unpackb(frame, timestamp=0)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise ValueError(f"not a msgpack frame: {exc}") from None
    if not isinstance(doc, list):
        raise ValueError("not an array frame")
    out = []
    for m in doc:
        if not isinstance(m, dict):
            raise ValueError("not an object")
        out.append(
            {
                k: (rfc3339_ns(v.to_unix_nano()) if isinstance(v, msgpack.Timestamp) else v)
                for k, v in m.items()
            }
        )
    return orjson.dumps(out)


# -- control messages ---------------------------------------------------------------------------------

ERRORS: dict[int, str] = {
    400: "invalid syntax",
    401: "not authenticated",
    402: "auth failed",
    403: "already authenticated",
    404: "auth timeout",
    405: "symbol limit exceeded",
    406: "connection limit exceeded",
    407: "slow client",
    408: "v2 not enabled",
    409: "insufficient subscription",
    410: "invalid subscribe action for this feed",
    411: "insufficient scope",
    412: "option messages are only available in MsgPack format",
    413: "star subscription is not allowed for option quotes",
    500: "internal error",
}


def error(code: int) -> dict[str, Any]:
    """``{"T":"error","code":code,"msg":...}`` with Alpaca's message for the code."""
    return {"T": "error", "code": code, "msg": ERRORS[code]}


def success(msg: str) -> dict[str, Any]:
    """``{"T":"success","msg":msg}`` (``connected``, ``authenticated``)."""
    return {"T": "success", "msg": msg}


# -- client requests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Auth:
    """``{"action":"auth","key":...,"secret":...}``."""

    key: str
    secret: str


@dataclass(frozen=True)
class Subscribe:
    """``{"action":"subscribe"|"unsubscribe", "<channel>": [symbols...], ...}``."""

    unsubscribe: bool
    channels: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class BadRequest:
    """A frame that does not follow the protocol (answered with 400 invalid syntax)."""

    reason: str


Request = Auth | Subscribe | BadRequest
MAX_SYMBOL_LEN = 64


def valid_symbol(symbol: str) -> bool:
    """Symbols Alpaca accepts in a subscription: ``*``, or letters/digits and ``. / - :`` (no spaces)."""
    if symbol == "*":
        return True
    return (
        0 < len(symbol) <= MAX_SYMBOL_LEN
        and symbol.isascii()
        and all(ch.isalnum() or ch in "./-:" for ch in symbol)
        and not symbol.isdigit()
    )


def decode_request(frame: bytes | str) -> Request:
    """One client frame (JSON text or msgpack binary; JSON bytes accepted too) as a request. Never raises."""
    doc: Any
    try:
        if isinstance(frame, str):
            doc = orjson.loads(frame)
        else:
            try:
                doc = orjson.loads(frame)
            except orjson.JSONDecodeError:
                doc = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises many types on garbage
        return BadRequest(f"undecodable frame: {type(exc).__name__}")
    if not isinstance(doc, dict):
        return BadRequest("not an object")
    action = doc.get("action")
    if action == "auth":
        key, secret = doc.get("key"), doc.get("secret")
        if not isinstance(key, str) or not isinstance(secret, str):
            return BadRequest("auth without key/secret strings")
        return Auth(key, secret)
    if action in ("subscribe", "unsubscribe"):
        channels: dict[str, tuple[str, ...]] = {}
        for name, value in doc.items():
            if name == "action":
                continue
            if not isinstance(name, str) or not isinstance(value, list):
                return BadRequest(f"channel {name!r} is not a list")
            if not all(isinstance(s, str) and valid_symbol(s) for s in value):
                return BadRequest(f"bad symbol in {name!r}")
            channels[name] = tuple(dict.fromkeys(value))
        return Subscribe(action == "unsubscribe", channels)
    return BadRequest(f"unknown action {action!r}")
