"""The Binance spot venue's market model: the true book and trade store fed by the replay, and the wire
encoding of each message (event times moved to the intended send time, injected depth id gaps)."""

from __future__ import annotations

import time
from typing import Any

import orjson

from mock_venues.binance_spot.market import MarketState
from mock_venues.replay.records import Recorded

DEPTH_ID_KEYS = ("U", "u", "pu")


class BinanceSpotModel:
    """:class:`~mock_venues.base.publisher.MarketModel` of the Binance spot venue."""

    def __init__(self, market: MarketState, *, rebase_times: bool = True) -> None:
        self.market = market
        self.rebase_times = rebase_times
        self._id_shift: dict[str, int] = {}
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
                book.apply_diff(data["U"], data["u"], data["b"], data["a"])
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
