"""The Alpaca venue's market model: what was published (for REST backfill), the crypto books, the wire
encoding (msgpack once per message; JSON sessions get it transcoded once per message, cached)."""

from __future__ import annotations

import time
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from mock_venues.alpaca.codec import Encoding, encode, transcode_to_json
from mock_venues.alpaca.tape import MINUTE_NS, et_midnight
from mock_venues.replay.records import Recorded

NEWS_TIME_KEYS = ("created_at", "updated_at")  # article times: never rebased


@dataclass
class Series:
    """Messages of one (kind, symbol) in publication order, with their ``t`` for time windows."""

    times: list[int] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, msg: dict[str, Any]) -> None:
        self.times.append(msg["t"])
        self.items.append(msg)

    def window(self, start: int | None, end: int | None) -> list[dict[str, Any]]:
        """Messages with ``start <= t <= end`` in publication order (times need not be sorted)."""
        return [
            m
            for t, m in zip(self.times, self.items, strict=True)
            if (start is None or t >= start) and (end is None or t <= end)
        ]


@dataclass
class CryptoBook:
    """A crypto symbol's true order book (price -> size), kept from the depth diffs."""

    bids: dict[float, float] = field(default_factory=dict)
    asks: dict[float, float] = field(default_factory=dict)
    t: int = 0
    last_update_id: int = 0  # Binance's id of the snapshot: older diffs are not applied (nor published)

    def load(self, snap: dict[str, Any]) -> None:
        """A Binance REST depth snapshot."""
        self.bids = {float(p): float(q) for p, q in snap["bids"] if float(q)}
        self.asks = {float(p): float(q) for p, q in snap["asks"] if float(q)}
        self.last_update_id = int(snap.get("lastUpdateId", 0))

    def apply(self, msg: dict[str, Any]) -> None:
        for side, levels in ((self.bids, msg.get("b", [])), (self.asks, msg.get("a", []))):
            for level in levels:
                if level["s"]:
                    side[level["p"]] = level["s"]
                else:
                    side.pop(level["p"], None)
        self.t = msg["t"]

    def message(self, symbol: str, t: int) -> dict[str, Any]:
        """The whole book as an ``o`` message with ``r: true`` (best first)."""
        return {
            "T": "o",
            "S": symbol,
            "t": t,
            "b": [{"p": p, "s": s} for p, s in sorted(self.bids.items(), reverse=True)],
            "a": [{"p": p, "s": s} for p, s in sorted(self.asks.items())],
            "r": True,
        }


class AlpacaModel:
    """Applies timeline messages (times rebased to the send time), keeps REST data, encodes frames."""

    def __init__(self, *, rebase_times: bool = True, initial_snapshot: Any = None) -> None:
        self.rebase_times = rebase_times
        self.wall_minus_mono_ns = time.time_ns() - time.monotonic_ns()
        self.trades: dict[str, Series] = {}
        self.quotes: dict[str, Series] = {}
        self.bars: dict[str, Series] = {}
        self.books: dict[str, CryptoBook] = {}
        self.last_trades: dict[str, dict[str, Any]] = {}
        self._minutes: dict[tuple[str, int], int] = {}  # (symbol, recorded minute) -> minute sent in
        self._initial_snapshot = initial_snapshot
        self._last_frame: bytes | None = None
        self._last_message: dict[str, Any] | None = None
        self._last_json: bytes | None = None

    def wall_ns(self, mono_ns: int) -> int:
        """A monotonic time as Unix ns."""
        return mono_ns + self.wall_minus_mono_ns

    def book(self, symbol: str) -> CryptoBook:
        """The true book of a crypto symbol (created from the first recorded snapshot)."""
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = CryptoBook()
            snap = self._initial_snapshot(symbol) if self._initial_snapshot is not None else None
            if snap is not None:
                book.load(snap)
        return book

    def apply(self, rec: Recorded, intended_ns: int) -> tuple[int, Any] | None:
        """Rebase the message's times, remember it for REST, return (history key, message)."""
        data = rec.data
        kind = data["T"]
        if kind == "skip":
            return None
        if kind == "snapshot":
            book = self.book(data["S"])
            if rec.venue_id > book.last_update_id:
                book.load({**data, "lastUpdateId": rec.venue_id})
            return None
        if kind == "o" and rec.venue_id <= self.book(data["S"]).last_update_id:
            return None  # a diff the snapshot already holds (Binance's procedure): not published
        msg = {k: v for k, v in data.items() if k != "_r"}
        symbol = msg.get("S", "")
        if self.rebase_times and "t" in msg:
            shift = self.wall_ns(intended_ns) - data["_r"]
            if kind in ("b", "u"):
                # The minute its first trade was sent in (at replay speeds other than 1 several recorded
                # minutes may share one), else the shifted minute.
                shifted = msg["t"] + shift
                msg["t"] = self._minutes.get((symbol, msg["t"]), shifted - shifted % MINUTE_NS)
            elif kind == "d":
                msg["t"] = et_midnight(msg["t"] + shift)
            else:
                msg["t"] += shift
            if kind == "t":
                recorded_minute = data["_r"] - data["_r"] % MINUTE_NS
                self._minutes.setdefault((symbol, recorded_minute), msg["t"] - msg["t"] % MINUTE_NS)
        if kind == "t":
            self.trades.setdefault(symbol, Series()).add(msg)
            self.last_trades[symbol] = msg
        elif kind == "q":
            self.quotes.setdefault(symbol, Series()).add(msg)
        elif kind == "b":
            self.bars.setdefault(symbol, Series()).add(msg)
        elif kind == "o":
            self.book(symbol).apply(msg)
        return rec.venue_id, msg

    def encode(self, message: Any, intended_ns: int) -> bytes:
        """The msgpack frame ``[message]`` (JSON sessions: :meth:`json_frame`)."""
        frame = encode([message], Encoding.MSGPACK)
        self._last_frame, self._last_message, self._last_json = frame, message, None
        return frame

    def json_frame(self, frame: bytes) -> bytes:
        """The JSON form of a frame :meth:`encode` made (cached for the last one); a frame that is not
        msgpack (a corrupted one) is passed on as it is."""
        if frame is self._last_frame and self._last_message is not None:
            if self._last_json is None:
                self._last_json = encode([self._last_message], Encoding.JSON)
            return self._last_json
        try:
            return transcode_to_json(frame)
        except ValueError:
            return frame

    def message_of(self, frame: bytes) -> dict[str, Any] | None:
        """The message of the last encoded frame (news routing), None for another frame."""
        return self._last_message if frame is self._last_frame else None


def binary_search_after(times: list[int], t: int) -> int:
    """Index of the first time >= t in a sorted list."""
    return bisect_left(times, t)
