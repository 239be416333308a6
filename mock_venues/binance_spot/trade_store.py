"""The trades a venue published for one symbol, queryable the way Binance's REST trade endpoints answer.

Bounded: only the last ``max_trades`` trades and ``max_aggs`` aggregate trades are kept (older ones are
gone, as if they had aged out of Binance's database). Ids are kept sorted so queries are binary searches;
trade times are assumed non-decreasing in id order, as on Binance.
"""

from __future__ import annotations

import decimal
from array import array
from bisect import bisect_left, bisect_right
from decimal import Decimal
from typing import Any

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
DEFAULT_KEEP = 100_000

_QUOTE_CONTEXT = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_EVEN)


def quote_qty(price: str, qty: str, decimals: int = 8) -> str:
    """``price * qty`` in exact decimal arithmetic, rounded half-even to ``decimals`` places, as a string."""
    product = _QUOTE_CONTEXT.multiply(Decimal(price), Decimal(qty))
    return format(product.quantize(Decimal(1).scaleb(-decimals), context=_QUOTE_CONTEXT), "f")


class _Column:
    """Rows kept sorted by id, trimmed to the newest ``keep`` (amortised: compacts in chunks)."""

    __slots__ = ("ids", "keep", "rows", "times")

    def __init__(self, keep: int) -> None:
        if keep <= 0:
            raise ValueError(f"keep must be positive, got {keep}")
        self.keep = keep
        self.ids = array("q")
        self.times = array("q")
        self.rows: list[tuple[Any, ...]] = []

    def add(self, id_: int, time_ms: int, row: tuple[Any, ...]) -> None:
        ids = self.ids
        if not ids or id_ > ids[-1]:
            ids.append(id_)
            self.times.append(time_ms)
            self.rows.append(row)
        else:  # out of order (rare): insert in place; an id already held is ignored
            at = bisect_left(ids, id_)
            if at < len(ids) and ids[at] == id_:
                return
            ids.insert(at, id_)
            self.times.insert(at, time_ms)
            self.rows.insert(at, row)
        excess = len(ids) - self.keep
        if excess >= max(1, self.keep // 4):
            del ids[:excess]
            del self.times[:excess]
            del self.rows[:excess]

    def start(self) -> int:
        """Index of the oldest row still visible."""
        return max(0, len(self.ids) - self.keep)

    def __len__(self) -> int:
        return len(self.ids) - self.start()


def _clamp_limit(limit: int) -> int:
    return max(1, min(limit, MAX_LIMIT))


class TradeStore:
    """Published trades and aggregate trades of one symbol (bounded memory)."""

    def __init__(self, max_trades: int = DEFAULT_KEEP, max_aggs: int = DEFAULT_KEEP, quote_decimals: int = 8):
        self._trades = _Column(max_trades)
        self._aggs = _Column(max_aggs)
        self.quote_decimals = quote_decimals

    # -- feeding (the publisher's hot path) ------------------------------------------------------------

    def add_trade(self, t: int, p: str, q: str, T: int, m: bool) -> None:
        """Keep one published ``trade`` event (id ``t``, price, qty, time ``T`` in ms, buyer-is-maker)."""
        self._trades.add(t, T, (p, q, m))

    def add_agg(self, a: int, p: str, q: str, f: int, l: int, T: int, m: bool) -> None:  # noqa: E741
        """Keep one published ``aggTrade`` event (id ``a``, first/last trade ids ``f``/``l``)."""
        self._aggs.add(a, T, (p, q, f, l, m))

    @property
    def trade_count(self) -> int:
        """Trades currently held."""
        return len(self._trades)

    @property
    def agg_count(self) -> int:
        """Aggregate trades currently held."""
        return len(self._aggs)

    # -- queries (Binance REST shapes) ---------------------------------------------------------------

    def agg_trades(
        self, from_id: int | None, start_time: int | None, end_time: int | None, limit: int = DEFAULT_LIMIT
    ) -> list[dict[str, Any]]:
        """``GET /api/v3/aggTrades``: ascending by id, at most ``limit`` (1..1000).

        ``from_id`` wins over the times: ids >= from_id. ``start_time`` (with or without ``end_time``):
        the first ``limit`` with ``start <= T <= end``. ``end_time`` alone: the last ``limit`` with
        ``T <= end``. Nothing: the most recent ``limit``.
        """
        col = self._aggs
        limit = _clamp_limit(limit)
        lo, hi = col.start(), len(col.ids)
        if from_id is not None:
            lo = max(lo, bisect_left(col.ids, from_id))
            hi = min(hi, lo + limit)
        elif start_time is not None:
            lo = max(lo, bisect_left(col.times, start_time, lo, hi))
            if end_time is not None:
                hi = bisect_right(col.times, end_time, lo, hi) if end_time >= start_time else lo
            hi = min(hi, lo + limit)
        else:
            if end_time is not None:
                hi = bisect_right(col.times, end_time, lo, hi)
            lo = max(lo, hi - limit)
        ids, times, rows = col.ids, col.times, col.rows
        out = []
        for i in range(lo, hi):
            p, q, f, last, m = rows[i]
            out.append({"a": ids[i], "p": p, "q": q, "f": f, "l": last, "T": times[i], "m": m, "M": True})
        return out

    def recent_trades(self, limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
        """``GET /api/v3/trades``: the most recent ``limit`` trades, ascending by id."""
        return self.historical_trades(None, limit)

    def historical_trades(self, from_id: int | None, limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
        """``GET /api/v3/historicalTrades``: trades with id >= ``from_id`` (None = most recent), ascending."""
        col = self._trades
        limit = _clamp_limit(limit)
        lo, hi = col.start(), len(col.ids)
        if from_id is None:
            lo = max(lo, hi - limit)
        else:
            lo = max(lo, bisect_left(col.ids, from_id))
            hi = min(hi, lo + limit)
        ids, times, rows, decimals = col.ids, col.times, col.rows, self.quote_decimals
        out = []
        for i in range(lo, hi):
            p, q, m = rows[i]
            out.append(
                {
                    "id": ids[i],
                    "price": p,
                    "qty": q,
                    "quoteQty": quote_qty(p, q, decimals),
                    "time": times[i],
                    "isBuyerMaker": m,
                    "isBestMatch": True,
                }
            )
        return out
