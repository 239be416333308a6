"""Binance's documented local order book procedure for one symbol, as a pure state machine.

Procedure (binance-spot-api-docs, corrected 2024-12-16 / 2025-11-12): buffer diff events, fetch a REST
snapshot with ``lastUpdateId`` L; if L is older than the first buffered event (L < U0) fetch again; drop
buffered events with ``u <= L``; the first kept event must bridge the snapshot (``U <= L + 1 <= u``); then
apply every event in order, where an event with ``u <= X`` (X = book update id) is stale and an event with
``U > X + 1`` means updates were missed: the book is invalid and must be rebuilt from a new snapshot.

No I/O and no clock: the caller feeds diffs and snapshots and acts on the returned :class:`Step`.
:class:`BookSync` is the Binance spot adapter's :class:`feed.adapter.BookSync`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from feed.adapter import BookView, Market, Step

Level = Sequence[str]  # [price, quantity] as the venue's decimal strings

__all__ = ["BookSync", "OrderBook", "Step"]


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

    band: tuple[str, str] | None = None  # lowest bid / highest ask of the snapshot the book was built on

    # -- feed.adapter.BookSync ---------------------------------------------------------------------------

    def on_update(self, item: Market) -> Step:
        """A diff (``first_id`` = U, ``id`` = u) from the engine."""
        assert item.first_id is not None and item.id is not None
        return self.on_diff(item.first_id, item.id, item.data.b, item.data.a)

    def on_snapshot(self, snapshot: Any) -> Step:
        """A ``/api/v3/depth`` answer; ``ValueError`` when it is not one."""
        try:
            last_update_id = snapshot["lastUpdateId"]
            bids, asks = snapshot["bids"], snapshot["asks"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed snapshot: {exc!r}") from None
        if isinstance(last_update_id, bool) or not isinstance(last_update_id, int):
            raise ValueError(f"malformed snapshot: lastUpdateId {last_update_id!r} is not an integer")
        if not isinstance(bids, list) or not isinstance(asks, list):
            raise ValueError("malformed snapshot: bids and asks must be lists")
        step = self.apply_snapshot(last_update_id, bids, asks)
        if step is Step.SYNCED:
            self.band = _band(bids, asks)
        return step

    def last_update_id(self) -> int | None:
        """The id of the last update applied to the book (its snapshot's id right after a sync)."""
        return self.book.last_update_id if self.synced else None

    def buffered(self) -> int:
        """Diffs waiting for a snapshot."""
        return len(self.buffer)

    def trim(self, capacity: int) -> int:
        """Keep the newest ``capacity`` buffered diffs (older ones are older than any snapshot still to
        come, so dropping them loses nothing); returns how many went."""
        excess = len(self.buffer) - capacity
        if excess <= 0:
            return 0
        del self.buffer[:excess]
        return excess

    def view(self, depth: int | None = None) -> BookView:
        """Levels best first, the last applied update id and the snapshot's band."""
        bids, asks = self.book.top(depth)
        return BookView(self.book.last_update_id, bids, asks, self.band)

    # -- Binance's procedure -----------------------------------------------------------------------------

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

    def apply_snapshot(self, last_update_id: int, bids: Sequence[Level], asks: Sequence[Level]) -> Step:
        """Feed a REST snapshot; returns SYNCED, REFETCH (too old) or GAP (a buffered diff skips ids)."""
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


def _band(bids: Sequence[Level], asks: Sequence[Level]) -> tuple[str, str] | None:
    """The price range a snapshot covers: levels outside it may be missing from a book built on it."""
    if not bids or not asks:
        return None
    return str(min((b[0] for b in bids), key=Decimal)), str(max((a[0] for a in asks), key=Decimal))
