"""The venue's true order book per symbol: the recorded snapshot plus every diff the venue published.

Prices and quantities stay the exact recorded strings; a zero quantity removes a level. The book is what
a perfect client would hold, so a feed's book is checked against it (``diff_books``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

Levels = list[list[str]]


def is_zero(qty: str) -> bool:
    """Whether a Binance decimal string is zero (``"0.00000000"``)."""
    return not qty.strip("0.")


class TrueBook:
    """One symbol's order book as the venue published it."""

    __slots__ = ("asks", "bids", "gaps", "has_base", "last_update_id", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.last_update_id = 0
        self.has_base = False  # True once a REST snapshot was loaded
        self.gaps = 0  # diffs whose first id did not follow the previous last id

    def load_snapshot(self, last_update_id: int, bids: Levels, asks: Levels) -> None:
        """Replace the book with a REST depth snapshot."""
        self.bids = {p: q for p, q in bids if not is_zero(q)}
        self.asks = {p: q for p, q in asks if not is_zero(q)}
        self.last_update_id = int(last_update_id)
        self.has_base = True

    def apply_diff(self, first_id: int, last_id: int, bids: Levels, asks: Levels) -> bool:
        """Apply one depth diff (``U``, ``u``, ``b``, ``a``); False when it is older than the book."""
        if last_id <= self.last_update_id:
            return False
        if self.last_update_id and first_id > self.last_update_id + 1:
            self.gaps += 1
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, qty in levels:
                if is_zero(qty):
                    side.pop(price, None)
                else:
                    side[price] = qty
        self.last_update_id = last_id
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
