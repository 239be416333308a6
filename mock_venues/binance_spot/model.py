"""The Binance spot venue's market model: the true book and trade store fed by the replay, and the wire
encoding of each message (event times moved to the intended send time, injected depth id gaps).

Loop restarts: in loop mode the recording's diffs only make sense on the book they were recorded against,
so at each later loop a symbol's true book restarts from the recording's first snapshot (ids shifted like
the loop's). Depth ids stay contiguous: the loop's diffs the snapshot already covers are not published, and
the first diff past it is published with ``U`` = the previous ``u`` + 1 and the levels that turn the
previous loop's book into snapshot + that diff (a removed level has quantity zero). A client following
the stream, or one that fetches a REST snapshot at any moment, ends up with the venue's book.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from mock_venues.binance_spot.book import ZERO_QTY, Levels, TrueBook, is_zero
from mock_venues.binance_spot.market import MarketState
from mock_venues.binance_spot.tape import LOOP_RESTART
from mock_venues.replay.records import Recorded

Snapshot = dict[str, Any]

DEPTH_ID_KEYS = ("U", "u", "pu")


class BinanceSpotModel:
    """:class:`~mock_venues.base.publisher.MarketModel` of the Binance spot venue."""

    def __init__(
        self,
        market: MarketState,
        *,
        rebase_times: bool = True,
        restart_snapshot: Callable[[str, int], Snapshot | None] | None = None,
        on_crossed: Callable[[TrueBook], None] | None = None,
    ) -> None:
        self.market = market
        self.rebase_times = rebase_times
        self.restart_snapshot = restart_snapshot  # (symbol, loop) -> the book a loop restarts from
        self.on_crossed = on_crossed  # called when an update leaves a true book crossed
        self._id_shift: dict[str, int] = {}
        self._restarting: dict[str, Snapshot | None] = {}  # symbol -> snapshot its next loop starts from
        self._wall_minus_mono_ns = time.time_ns() - time.monotonic_ns()

    def insert_gap(self, symbol: str, skip: int) -> None:
        """Make the depth update ids of ``symbol`` jump by ``skip`` from the next message on."""
        symbol = symbol.upper()
        if symbol not in self.market.books:
            raise ValueError(f"unknown symbol {symbol!r}")
        if skip < 1:
            raise ValueError("skip must be >= 1")
        self._id_shift[symbol] = self._id_shift.get(symbol, 0) + skip

    def apply(self, rec: Recorded, intended_ns: int) -> tuple[int, Any] | None:
        """Book diffs into the true book, trades into the REST trade store; snapshots are not published."""
        event = rec.event
        data = rec.data
        venue_id = rec.venue_id
        shift = self._id_shift.get(rec.symbol) if self._id_shift else None
        if shift and event in ("depthUpdate", "bookTicker"):
            data = {**data, **{k: data[k] + shift for k in DEPTH_ID_KEYS if k in data}}
            venue_id += shift
        elif event == "kline" and self.rebase_times:
            # Klines carry no id of their own: their key is the event time E as sent (rebased).
            venue_id = (intended_ns + self._wall_minus_mono_ns) // 1_000_000
        if event == "depthUpdate":
            book = self.market.books.get(rec.symbol)
            if book is not None:
                if self._restarting and rec.symbol in self._restarting:
                    snap = self._restarting[rec.symbol]
                    if snap is not None and rec.data["u"] <= snap["lastUpdateId"]:
                        return None  # covered by the snapshot the loop restarts from: not published
                    del self._restarting[rec.symbol]
                    data = _restart_diff(book, snap, data)
                crossings = book.crossings
                book.apply_diff(data["U"], data["u"], data["b"], data["a"])
                if book.crossings != crossings and self.on_crossed is not None:
                    self.on_crossed(book)
        elif event == LOOP_RESTART:
            if rec.symbol in self.market.books:
                snap = self.restart_snapshot(rec.symbol, data["loop"]) if self.restart_snapshot else None
                self._restarting[rec.symbol] = snap
            return None
        elif event == "trade":
            store = self.market.trades.get(rec.symbol)
            if store is not None:
                store.add_trade(data["t"], data["p"], data["q"], data["T"], data["m"])
        elif event == "aggTrade":
            store = self.market.trades.get(rec.symbol)
            if store is not None:
                store.add_agg(data["a"], data["p"], data["q"], data["f"], data["l"], data["T"], data["m"])
        elif event == "snapshot":
            return None  # recorded REST snapshots seed the book before the replay; they are not stream data
        return venue_id, data

    def encode(self, message: Any, intended_ns: int) -> bytes:
        """The payload's JSON; event times moved to the intended send time (keeping E - T)."""
        data: dict[str, Any] = message
        if self.rebase_times and "E" in data:
            wall_ms = (intended_ns + self._wall_minus_mono_ns) // 1_000_000
            data = dict(data)
            recorded_e = data["E"]
            data["E"] = wall_ms
            if "T" in data:
                data["T"] = wall_ms - (recorded_e - data["T"])
        return orjson.dumps(data)


def _restart_diff(book: TrueBook, snap: Snapshot | None, diff: dict[str, Any]) -> dict[str, Any]:
    """``diff`` (the first of a loop past its restart snapshot) widened to turn ``book`` (the previous
    loop's) into ``snap`` + ``diff``, continuing right after the book's last id."""
    sides: list[Levels] = []
    for have, base, change in (
        (book.bids, snap["bids"] if snap else [], diff["b"]),
        (book.asks, snap["asks"] if snap else [], diff["a"]),
    ):
        want = {p: q for p, q in base if not is_zero(q)}
        for price, qty in change:
            if is_zero(qty):
                want.pop(price, None)
            else:
                want[price] = qty
        levels = [[p, ZERO_QTY] for p in have if p not in want]
        levels += [[p, q] for p, q in want.items() if have.get(p) != q]
        sides.append(levels)
    return {**diff, "U": book.last_update_id + 1, "b": sides[0], "a": sides[1]}
