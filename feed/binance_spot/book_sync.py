"""Binance's documented local order book procedure for one symbol, as a pure state machine.

Procedure (binance-spot-api-docs, corrected 2024-12-16 / 2025-11-12): buffer diff events, fetch a REST
snapshot with ``lastUpdateId`` L; if L is older than the first buffered event (L < U0) fetch again; drop
buffered events with ``u <= L``; the first kept event must bridge the snapshot (``U <= L + 1 <= u``); then
apply every event in order, where an event with ``u <= X`` (X = book update id) is stale and an event with
``U > X + 1`` means updates were missed: the book is invalid and must be rebuilt from a new snapshot.

No I/O and no clock: the caller feeds diffs and snapshots and acts on the returned :class:`Step`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

Level = Sequence[str]  # [price, quantity] as the venue's decimal strings


class Step(enum.Enum):
    """What happened to the event just fed in, and what the caller must do next."""

    BUFFERED = "buffered"  # waiting for a snapshot (fetch one if not already)
    APPLIED = "applied"
    STALE = "stale"  # older than the book; ignored
    SYNCED = "synced"  # snapshot accepted and buffered diffs applied: the book is valid
    REFETCH = "refetch"  # snapshot older than the buffered stream: fetch another
    GAP = "gap"  # updates were missed: the book is invalid, resync (new snapshot)


@dataclass
class OrderBook:
    """Price levels as exact decimal strings (bids and asks: price -> quantity)."""

    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)
    last_update_id: int = 0

    def apply(self, bids: Sequence[Level], asks: Sequence[Level]) -> None:
        """Set absolute quantities; a zero quantity removes the level."""
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, qty in levels:
                if _is_zero(qty):
                    side.pop(price, None)
                else:
                    side[price] = qty

    def top(self, depth: int | None = None) -> tuple[list[list[str]], list[list[str]]]:
        """Bids best first and asks best first, optionally only the first ``depth`` levels."""
        bids = sorted(self.bids.items(), key=lambda kv: Decimal(kv[0]), reverse=True)
        asks = sorted(self.asks.items(), key=lambda kv: Decimal(kv[0]))
        if depth is not None:
            bids, asks = bids[:depth], asks[:depth]
        return [list(b) for b in bids], [list(a) for a in asks]


def _is_zero(qty: str) -> bool:
    return qty.strip("0.") == "" if qty else True


@dataclass
class BookSync:
    """One symbol's book kept in sync by snapshot + diffs."""

    symbol: str
    book: OrderBook = field(default_factory=OrderBook)
    synced: bool = False
    buffer: list[tuple[int, int, Sequence[Level], Sequence[Level]]] = field(default_factory=list)
    resyncs: int = 0

    @property
    def first_buffered_id(self) -> int | None:
        """``U`` of the first buffered event (U0), if any."""
        return self.buffer[0][0] if self.buffer else None

    def on_diff(self, first_id: int, final_id: int, bids: Sequence[Level], asks: Sequence[Level]) -> Step:
        """Feed one diff event (U, u, b, a)."""
        if not self.synced:
            self.buffer.append((first_id, final_id, bids, asks))
            return Step.BUFFERED
        book = self.book
        if final_id <= book.last_update_id:
            return Step.STALE
        if first_id > book.last_update_id + 1:
            self.invalidate()
            self.buffer.append((first_id, final_id, bids, asks))
            return Step.GAP
        book.apply(bids, asks)
        book.last_update_id = final_id
        return Step.APPLIED

    def on_snapshot(self, last_update_id: int, bids: Sequence[Level], asks: Sequence[Level]) -> Step:
        """Feed a REST snapshot; returns SYNCED, REFETCH (too old) or BUFFERED (no diff seen yet)."""
        first = self.first_buffered_id
        if first is None:
            # Nothing buffered (a quiet symbol): take the snapshot as the book; the first diff that follows
            # must bridge it (stale ones are dropped, one that skips ids is a gap), as on every diff.
            self.book = OrderBook(last_update_id=last_update_id)
            self.book.apply(bids, asks)
            self.synced = True
            return Step.SYNCED
        if last_update_id < first - 1:
            return Step.REFETCH
        kept = [ev for ev in self.buffer if ev[1] > last_update_id]
        if kept and not kept[0][0] <= last_update_id + 1 <= kept[0][1]:
            return Step.REFETCH
        self.book = OrderBook(last_update_id=last_update_id)
        self.book.apply(bids, asks)
        self.buffer.clear()
        self.synced = True
        for first_id, final_id, b, a in kept:
            step = self.on_diff(first_id, final_id, b, a)
            if step is Step.GAP:
                return Step.GAP
        return Step.SYNCED

    def invalidate(self) -> None:
        """Drop the book; the next snapshot rebuilds it."""
        self.synced = False
        self.buffer.clear()
        self.resyncs += 1
