"""Alpaca's crypto order book, kept the only way the venue allows: by its reset flag. Pure.

An ``orderbooks`` message (``T:"o"``) with ``"r": true`` carries the whole book and replaces the local one;
later messages are diffs where ``s`` is the new absolute size and ``s == 0`` deletes the level
(../shared/protocols/alpaca.md §8). There are no sequence numbers: a diff cannot prove that nothing was
missed before it, so after a connection drop the engine invalidates the book and diffs are buffered until
the next reset (Alpaca sends one after every subscribe) or a REST snapshot (``/latest/orderbooks``)
rebuilds it; buffered diffs newer than the snapshot's time are applied on top of it.
"""

from __future__ import annotations

from typing import Any

from feed.adapter import BookView, Market, Step


def _level_text(value: float | int) -> str:
    return repr(value) if isinstance(value, float) else str(value)


class AlpacaBook:
    """One crypto pair's book (:class:`feed.adapter.BookSync`)."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.synced = False
        self.resyncs = 0
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.book_ns: int | None = None  # exchange time of the last message applied
        self._buffer: list[Market] = []

    # -- BookSync --------------------------------------------------------------------------------------

    def on_update(self, item: Market) -> Step:
        """A reset replaces the book (SYNCED); a diff is applied (APPLIED) or buffered (BUFFERED)."""
        data = item.data
        if data.get("r"):
            self._replace(data.get("b", []), data.get("a", []), item.exchange_ns)
            self._buffer.clear()
            return Step.SYNCED
        if not self.synced:
            self._buffer.append(item)
            return Step.BUFFERED
        self._apply(data, item.exchange_ns)
        return Step.APPLIED

    def on_snapshot(self, snapshot: Any) -> Step:
        """A REST snapshot ``{"t": ns, "b": [...], "a": [...]}``: replaces the book unless it is older
        than a reset already applied (STALE)."""
        if not isinstance(snapshot, dict) or not isinstance(snapshot.get("t"), int):
            raise ValueError(f"not an order book snapshot: {snapshot!r}"[:200])
        snap_ns = snapshot["t"]
        if self.synced and self.book_ns is not None and snap_ns <= self.book_ns:
            return Step.STALE
        self._replace(snapshot.get("b", []), snapshot.get("a", []), snap_ns)
        for item in self._buffer:
            if item.exchange_ns is None or item.exchange_ns > snap_ns:
                self._apply(item.data, item.exchange_ns)
        self._buffer.clear()
        return Step.SYNCED

    def invalidate(self) -> None:
        """Drop the book: the next reset or snapshot rebuilds it."""
        self.synced = False
        self.bids.clear()
        self.asks.clear()

    def last_update_id(self) -> int | None:
        """Alpaca books have no update ids."""
        return None

    def buffered(self) -> int:
        """Diffs waiting for a reset or snapshot."""
        return len(self._buffer)

    def trim(self, capacity: int) -> int:
        """Keep the newest ``capacity`` buffered diffs."""
        extra = len(self._buffer) - capacity
        if extra <= 0:
            return 0
        del self._buffer[:extra]
        return extra

    def view(self, depth: int | None = None) -> BookView:
        """Levels best first, as decimal strings."""
        bids = sorted(self.bids.items(), key=lambda kv: -kv[0])[:depth]
        asks = sorted(self.asks.items(), key=lambda kv: kv[0])[:depth]
        return BookView(
            id=None,
            bids=[[_level_text(p), _level_text(s)] for p, s in bids],
            asks=[[_level_text(p), _level_text(s)] for p, s in asks],
        )

    # -- internals -------------------------------------------------------------------------------------

    def _replace(self, bids: list[dict[str, Any]], asks: list[dict[str, Any]], ns: int | None) -> None:
        self.bids = {lvl["p"]: lvl["s"] for lvl in bids if lvl["s"]}
        self.asks = {lvl["p"]: lvl["s"] for lvl in asks if lvl["s"]}
        self.book_ns = ns
        self.synced = True
        self.resyncs += 1

    def _apply(self, data: dict[str, Any], ns: int | None) -> None:
        for side, levels in ((self.bids, data.get("b", [])), (self.asks, data.get("a", []))):
            for lvl in levels:
                if lvl["s"]:
                    side[lvl["p"]] = lvl["s"]
                else:
                    side.pop(lvl["p"], None)
        if ns is not None:
            self.book_ns = ns
