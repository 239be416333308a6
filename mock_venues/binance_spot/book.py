"""The venue's true order book per symbol: the recorded snapshot plus every diff the venue published.

Prices and quantities stay the exact recorded strings; a zero quantity removes a level. The book is what
a perfect client would hold, so a feed's book is checked against it (``diff_books``).

Invariant: the book is never crossed (best bid below best ask). Every snapshot and diff is checked, at the
cost of one float per level the diff sets: the book keeps an upper bound of its best bid and a lower bound
of its best ask and finds the exact best only when a new level reaches the bound. A crossing is counted
(``crossings``, the first one kept in ``first_crossing``) for the venue to report; the book is left as
published, so what a feed copied can still be compared with it.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

Levels = list[list[str]]
ZERO_QTY = "0.00000000"  # how Binance spot writes a removed level's quantity


def is_zero(qty: str) -> bool:
    """Whether a Binance decimal string is zero (``"0.00000000"``)."""
    return not qty.strip("0.")


class TrueBook:
    """One symbol's order book as the venue published it."""

    __slots__ = (
        "_ask_low",
        "_bid_high",
        "asks",
        "bids",
        "crossings",
        "first_crossing",
        "gaps",
        "has_base",
        "last_update_id",
        "symbol",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.last_update_id = 0
        self.has_base = False  # True once a REST snapshot was loaded
        self.gaps = 0  # diffs whose first id did not follow the previous last id
        self.crossings = 0  # updates after which the best bid was at or above the best ask
        self.first_crossing: dict[str, Any] | None = None  # {"id", "bid", "ask"} of the first one
        self._bid_high = -math.inf  # >= the best bid (exact after _exact_bid)
        self._ask_low = math.inf  # <= the best ask

    def load_snapshot(self, last_update_id: int, bids: Levels, asks: Levels) -> None:
        """Replace the book with a REST depth snapshot."""
        self.bids = {p: q for p, q in bids if not is_zero(q)}
        self.asks = {p: q for p, q in asks if not is_zero(q)}
        self.last_update_id = int(last_update_id)
        self.has_base = True
        self._check(self._exact_bid(), self._exact_ask())

    def _exact_bid(self) -> float:
        self._bid_high = max(map(float, self.bids), default=-math.inf)
        return self._bid_high

    def _exact_ask(self) -> float:
        self._ask_low = min(map(float, self.asks), default=math.inf)
        return self._ask_low

    def _check(self, new_bid: float, new_ask: float) -> None:
        """Count a crossing when the highest bid or lowest ask an update set reaches the other side."""
        bid_reaches = new_bid >= self._ask_low and new_bid >= self._exact_ask()
        if bid_reaches or (new_ask <= self._bid_high and new_ask <= self._exact_bid()):
            self._crossed()

    def _crossed(self) -> None:
        self.crossings += 1
        if self.first_crossing is None:
            bid, ask = self.best()
            self.first_crossing = {"id": self.last_update_id, "bid": bid, "ask": ask}

    @property
    def crossed(self) -> bool:
        """Whether the book is crossed now (exact; O(levels))."""
        return self._exact_bid() >= self._exact_ask()

    def apply_diff(self, first_id: int, last_id: int, bids: Levels, asks: Levels) -> bool:
        """Apply one depth diff (``U``, ``u``, ``b``, ``a``); False when it is older than the book."""
        if last_id <= self.last_update_id:
            return False
        if self.last_update_id and first_id > self.last_update_id + 1:
            self.gaps += 1
        book_bids, book_asks = self.bids, self.asks
        for side, levels in ((book_bids, bids), (book_asks, asks)):
            for price, qty in levels:
                if is_zero(qty):
                    side.pop(price, None)
                else:
                    side[price] = qty
        # Only levels still in the book count (a diff may set a price and remove it again).
        high_bid = max((float(p) for p, q in bids if p in book_bids and not is_zero(q)), default=-math.inf)
        low_ask = min((float(p) for p, q in asks if p in book_asks and not is_zero(q)), default=math.inf)
        self.last_update_id = last_id
        self._bid_high = max(self._bid_high, high_bid)
        self._ask_low = min(self._ask_low, low_ask)
        self._check(high_bid, low_ask)
        return True

    def levels(self) -> tuple[Levels, Levels]:
        """Every level, bids best (highest) first and asks best (lowest) first."""
        bids = sorted(self.bids.items(), key=lambda kv: float(kv[0]), reverse=True)
        asks = sorted(self.asks.items(), key=lambda kv: float(kv[0]))
        return [[p, q] for p, q in bids], [[p, q] for p, q in asks]

    def snapshot(self, limit: int = 5000) -> dict[str, Any]:
        """The REST ``/api/v3/depth`` body for this book, ``limit`` levels per side."""
        bids, asks = self.levels()
        return {"lastUpdateId": self.last_update_id, "bids": bids[:limit], "asks": asks[:limit]}

    def best(self) -> tuple[list[str] | None, list[str] | None]:
        """Best bid and best ask levels (``[price, qty]``), None for an empty side."""
        bid = max(self.bids.items(), key=lambda kv: float(kv[0]), default=None)
        ask = min(self.asks.items(), key=lambda kv: float(kv[0]), default=None)
        return (list(bid) if bid else None, list(ask) if ask else None)


def _as_map(levels: Levels) -> dict[Decimal, Decimal]:
    out: dict[Decimal, Decimal] = {}
    for price, qty in levels:
        try:
            out[Decimal(price)] = Decimal(qty)
        except (InvalidOperation, TypeError) as exc:
            raise ValueError(f"bad level {[price, qty]!r}: {exc}") from None
    return out


def diff_books(expected: dict[str, Any], actual: dict[str, Any], depth: int | None = None) -> list[str]:
    """Differences between two depth bodies (numeric compare, top ``depth`` levels); [] when equal."""
    problems: list[str] = []
    if expected.get("lastUpdateId") != actual.get("lastUpdateId"):
        problems.append(
            f"lastUpdateId {actual.get('lastUpdateId')} != expected {expected.get('lastUpdateId')}"
        )
    for side in ("bids", "asks"):
        want = _as_map(expected.get(side, [])[:depth] if depth else expected.get(side, []))
        got = _as_map(actual.get(side, [])[:depth] if depth else actual.get(side, []))
        for price in sorted(set(want) | set(got)):
            if want.get(price) != got.get(price):
                problems.append(f"{side} {price}: {got.get(price)} != expected {want.get(price)}")
    return problems
