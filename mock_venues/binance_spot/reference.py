"""The Binance spot reference client: ids per stream, and a local book per symbol kept by Binance's own
documented procedure (REST snapshot + diffs), compared with the venue's true book at the end.

Independent of the feed (which has its own implementation of the procedure): this is the mock's side of
the deliberate duplication, used to check what the venue sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from mock_venues.base.reference import ReferenceClient, TrueBook
from mock_venues.binance_spot.tape import venue_id_of

MARKET_EVENTS = ("trade", "aggTrade", "depthUpdate", "bookTicker", "kline")


def frame_ids(frame: bytes) -> list[tuple[str, int]]:
    """(client stream, venue id) of a combined-stream frame carrying a market message."""
    try:
        doc = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
        return []
    data = doc["data"]
    event = data.get("e") or ("bookTicker" if "u" in data and "b" in data else None)
    if event not in MARKET_EVENTS:
        return []
    return [(str(doc.get("stream")), venue_id_of(event, data))]


@dataclass
class _Book:
    """One symbol's local book by Binance's procedure (buffer, snapshot, bridge, apply)."""

    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)
    last_id: int = 0
    synced: bool = False
    buffer: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def diff(self, data: dict[str, Any]) -> bool:
        """Apply or buffer one diff; True when a snapshot is needed."""
        if not self.synced:
            self.buffer.append(data)
            return len(self.buffer) == 1
        if data["u"] <= self.last_id:
            return False
        if data["U"] > self.last_id + 1:
            self.problems.append(f"diff {data['U']}..{data['u']} skips ids after {self.last_id}")
            self.synced = False
            self.buffer = [data]
            return True
        self._apply(data)
        return False

    def snapshot(self, snap: dict[str, Any]) -> bool:
        """Sync from a REST snapshot; False when it cannot bridge the buffer (fetch another)."""
        last = snap["lastUpdateId"]
        kept = [d for d in self.buffer if d["u"] > last]
        if self.buffer and last < self.buffer[0]["U"] - 1:
            return False
        if kept and not kept[0]["U"] <= last + 1 <= kept[0]["u"]:
            return False
        self.bids = {p: q for p, q in snap["bids"] if float(q)}
        self.asks = {p: q for p, q in snap["asks"] if float(q)}
        self.last_id = last
        self.synced = True
        self.buffer = []
        for data in kept:
            self._apply(data)
        return True

    def _apply(self, data: dict[str, Any]) -> None:
        for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
            for price, qty in levels:
                if float(qty):
                    side[price] = qty
                else:
                    side.pop(price, None)
        self.last_id = data["u"]


class BinanceReferenceClient(ReferenceClient):
    """A combined-stream client that also keeps every diff-depth symbol's book."""

    def __init__(self, url: str) -> None:
        super().__init__(url, frame_ids)
        self.books: dict[str, _Book] = {}
        self._wanted: set[str] = set()

    def on_frame(self, frame: bytes, recv_ns: int) -> None:
        """Record ids; buffer or apply depth diffs."""
        super().on_frame(frame, recv_ns)
        if b'"depthUpdate"' not in frame:
            return
        data = orjson.loads(frame)["data"]
        book = self.books.setdefault(data["s"], _Book())
        if book.diff(data):
            self._wanted.add(data["s"])

    async def after_frame(self, rest: Any) -> None:
        """Fetch the snapshots wanted (REST ``/api/v3/depth``), again while one cannot bridge."""
        while self._wanted:
            symbol = self._wanted.pop()
            for _ in range(20):
                async with rest.get("/api/v3/depth", params={"symbol": symbol, "limit": 5000}) as resp:
                    snap = await resp.json()
                if self.books[symbol].snapshot(snap):
                    break

    async def finish(self, rest: Any, true_book: TrueBook) -> list[str]:
        """Every local book equals the venue's true book."""
        problems = []
        for symbol, book in self.books.items():
            problems += [f"{symbol}: {p}" for p in book.problems]
            if not book.synced:
                problems.append(f"{symbol}: local book never synced")
                continue
            truth = await true_book(symbol)
            if book.last_id != truth["id"]:
                problems.append(f"{symbol}: local book at update {book.last_id}, venue at {truth['id']}")
            mine = (_norm(book.bids, reverse=True), _norm(book.asks, reverse=False))
            if mine != (_levels(truth["bids"]), _levels(truth["asks"])):
                problems.append(f"{symbol}: local book differs from the venue's true book")
        return problems


def _norm(side: dict[str, str], *, reverse: bool) -> list[tuple[float, float]]:
    return sorted(((float(p), float(q)) for p, q in side.items()), reverse=reverse)


def _levels(levels: list[list[str]]) -> list[tuple[float, float]]:
    return [(float(p), float(q)) for p, q in levels]
