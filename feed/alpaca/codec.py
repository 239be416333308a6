"""Alpaca market data codec: frame bytes in, market items and control answers out. Pure: no I/O, no clock.

A frame is an array of messages, each an object with ``T`` (../shared/protocols/alpaca.md §3): JSON text
(timestamps RFC-3339 strings, nanosecond precision) or msgpack binary (timestamps msgpack Timestamp
extension values). The encoding is told by the frame itself (JSON starts with ``[``), so one codec reads
both. Control messages come alone: ``success`` (``connected`` / ``authenticated``) becomes a
:class:`~feed.adapter.Notice` of that kind, ``error`` a :class:`~feed.adapter.ControlError` with Alpaca's
code, ``subscription`` a :class:`~feed.adapter.ControlReply` carrying the venue's complete subscription
set; none carries a request id (the pool matches them to the connection's oldest request). Data messages
become :class:`~feed.adapter.Market` items on stream ``<channel>.<S>`` (:mod:`feed.alpaca.streams`) with
the exchange time ``t`` in Unix ns and the payload as sent, except that msgpack timestamps are written as
RFC-3339 strings (so a journal reads the same whichever encoding the feed spoke).

Continuity keys: stock trades are unique per (exchange ``x``, id ``i``), crypto trades per ``i``, news
per ``id``. Corrections (``c``) and cancels (``x``) carry the id of the trade they correct as their event
id, and ``refers`` = that trade's key. A message that does not match its type's schema, or a frame that is
not an array of objects, becomes a :class:`~feed.adapter.Rejected` item with its raw bytes; the codec
never raises.
"""

from __future__ import annotations

import calendar
import re
import time
from typing import Any

import msgpack
import orjson

from feed.adapter import ControlError, ControlReply, Decoded, Market, Notice, Rejected
from feed.alpaca.streams import NEWS_STREAM, TYPE_CHANNEL

_TS_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")

# T -> fields that must be present: (name, expected type). "ts" = timestamp, "num" = int or float.
_REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "t": (("S", "str"), ("t", "ts"), ("p", "num"), ("s", "num")),
    "q": (("S", "str"), ("t", "ts"), ("bp", "num"), ("bs", "num"), ("ap", "num"), ("as", "num")),
    "b": (("S", "str"), ("t", "ts"), ("o", "num"), ("h", "num"), ("l", "num"), ("c", "num"), ("v", "num")),
    "s": (("S", "str"), ("t", "ts"), ("sc", "str")),
    "l": (("S", "str"), ("t", "ts"), ("u", "num"), ("d", "num")),
    "c": (("S", "str"), ("t", "ts"), ("x", "str"), ("oi", "int"), ("ci", "int")),
    "x": (("S", "str"), ("t", "ts"), ("x", "str"), ("i", "int")),
    "o": (("S", "str"), ("t", "ts"), ("b", "list"), ("a", "list")),
    "n": (("id", "int"), ("headline", "str"), ("created_at", "ts"), ("symbols", "list")),
}
_REQUIRED["u"] = _REQUIRED["d"] = _REQUIRED["b"]
_TS_FIELDS = ("t", "created_at", "updated_at")


def parse_rfc3339_ns(text: str) -> int:
    """``2021-02-22T15:51:44.208123456Z`` -> Unix ns (ValueError when it is not RFC-3339)."""
    m = _TS_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"not an RFC-3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(m[i]) for i in range(1, 7))
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    zone = m[8]
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    frac = (m[7] or "").ljust(9, "0")
    return seconds * 1_000_000_000 + int(frac)


def format_rfc3339_ns(ns: int) -> str:
    """Unix ns -> ``2021-02-22T15:51:44.208123456Z`` (what Alpaca's JSON and REST write)."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def _ts_ns(value: Any) -> int:
    if isinstance(value, msgpack.Timestamp):
        return int(value.to_unix_nano())
    if isinstance(value, str):
        return parse_rfc3339_ns(value)
    raise ValueError(f"not a timestamp: {value!r}")


def _check(doc: dict[str, Any], code: str) -> str | None:
    """The first schema problem of a data message (None: valid)."""
    for name, kind in _REQUIRED[code]:
        if name not in doc:
            return f"missing {name!r}"
        value = doc[name]
        if kind == "str":
            ok = isinstance(value, str)
        elif kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind == "num":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif kind == "list":
            ok = isinstance(value, list)
        else:
            ok = isinstance(value, str | msgpack.Timestamp)
        if not ok:
            return f"{name!r} is not a {kind}: {value!r}"[:200]
    if code == "o":
        for side in ("b", "a"):
            for level in doc[side]:
                if not (isinstance(level, dict) and _is_num(level.get("p")) and _is_num(level.get("s"))):
                    return f"{side!r} level is not {{p, s}} numbers: {level!r}"[:200]
        if not isinstance(doc.get("r", False), bool):
            return f"'r' is not a bool: {doc.get('r')!r}"
    if code == "t" and "i" in doc and (not isinstance(doc["i"], int) or isinstance(doc["i"], bool)):
        return f"'i' is not an int: {doc['i']!r}"[:200]
    return None


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _plain(doc: dict[str, Any]) -> dict[str, Any]:
    """The payload with msgpack timestamps written as RFC-3339 strings (JSON-serializable)."""
    if not any(isinstance(doc.get(name), msgpack.Timestamp) for name in _TS_FIELDS):
        return doc
    out = dict(doc)
    for name in _TS_FIELDS:
        value = out.get(name)
        if isinstance(value, msgpack.Timestamp):
            out[name] = format_rfc3339_ns(int(value.to_unix_nano()))
    return out


def market(doc: dict[str, Any], *, crypto: bool | None = None) -> Market | str:
    """One data message (``T`` known) as a market item, or the reason it is invalid."""
    code = doc["T"]
    problem = _check(doc, code)
    if problem is not None:
        return f"invalid {TYPE_CHANNEL[code]} payload: {problem}"
    try:
        exchange_ns = _ts_ns(doc["created_at"] if code == "n" else doc["t"])
    except ValueError as exc:
        return f"invalid {TYPE_CHANNEL[code]} payload: {exc}"[:200]
    data = _plain(doc)
    if code == "n":
        return Market(NEWS_STREAM, doc["id"], None, exchange_ns, data)
    stream = f"{TYPE_CHANNEL[code]}.{doc['S']}"
    ident: int | None = None
    key: Any = None
    refers: Any = None
    if code == "t":
        ident = doc.get("i")
        if ident is not None:
            # Stock trade ids are unique per exchange; crypto trades (no exchange) per symbol.
            is_crypto = "/" in doc["S"] if crypto is None else crypto
            key = ident if is_crypto or "x" not in doc else (doc["x"], ident)
    elif code == "c":
        ident, refers = doc["oi"], (doc["x"], doc["oi"])
    elif code == "x":
        ident, refers = doc["i"], (doc["x"], doc["i"])
    return Market(stream, ident, None, exchange_ns, data, key=key, refers=refers)


def _raw(doc: Any, binary: bool) -> bytes:
    try:
        return bytes(msgpack.packb(doc)) if binary else orjson.dumps(doc)
    except (TypeError, ValueError, OverflowError):
        return repr(doc).encode()


def decode(frame: bytes) -> list[Decoded]:
    """Every message of one frame (JSON or msgpack), in order; never raises."""
    head = frame.lstrip()[:1]
    binary = head not in (b"[", b"{")
    try:
        doc = msgpack.unpackb(frame, timestamp=0, strict_map_key=False) if binary else orjson.loads(frame)
    except (orjson.JSONDecodeError, ValueError, msgpack.UnpackException, TypeError) as exc:
        kind = "msgpack" if binary else "JSON"
        return [Rejected(frame, f"malformed {kind}: {exc}"[:300])]
    if not isinstance(doc, list):
        return [Rejected(frame, f"expected an array of messages, got {type(doc).__name__}")]
    out: list[Decoded] = []
    for entry in doc:
        out.append(_one(entry, frame if len(doc) == 1 else None, binary))
    return out


def _one(entry: Any, frame: bytes | None, binary: bool) -> Decoded:
    if not isinstance(entry, dict):
        return Rejected(frame or _raw(entry, binary), "unrecognised message: not an object")
    code = entry.get("T")
    if not isinstance(code, str):
        return Rejected(frame or _raw(entry, binary), f"unrecognised message: T={code!r}"[:300])
    if code in TYPE_CHANNEL:
        made = market(entry)
        if isinstance(made, Market):
            return made
        return Rejected(frame or _raw(entry, binary), made, stream=_stream_of(entry))
    if code == "success":
        msg = entry.get("msg")
        if isinstance(msg, str):
            return Notice(msg) if msg in ("connected", "authenticated") else Notice("success", {"msg": msg})
    elif code == "error":
        err_code, msg = entry.get("code"), entry.get("msg", "")
        if isinstance(err_code, int) and not isinstance(err_code, bool) and isinstance(msg, str):
            return ControlError(None, err_code, msg)
        return Rejected(frame or _raw(entry, binary), f"invalid error reply: {entry!r}"[:300])
    elif code == "subscription":
        return ControlReply(None, {k: v for k, v in entry.items() if k != "T"})
    return Rejected(frame or _raw(entry, binary), f"unrecognised message: T={code!r}"[:300])


def _stream_of(entry: dict[str, Any]) -> str | None:
    code = str(entry.get("T"))
    if code == "n":
        return NEWS_STREAM
    symbol = entry.get("S")
    return f"{TYPE_CHANNEL[code]}.{symbol}" if isinstance(symbol, str) else None


class AlpacaCodec:
    """:func:`decode` in the adapter's terms (:class:`feed.adapter.Codec`)."""

    def decode(self, frame: bytes) -> Decoded | list[Decoded]:
        """Decode one frame into its messages."""
        items = decode(frame)
        return items[0] if len(items) == 1 else items
