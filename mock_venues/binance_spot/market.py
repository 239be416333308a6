"""The state the venue's REST side serves: books, published trades, weight limits and injected REST faults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mock_venues.base.rest_faults import RestFaults

if TYPE_CHECKING:
    from mock_venues.base.limits import WeightLimiter
    from mock_venues.binance_spot.book import TrueBook
    from mock_venues.binance_spot.trade_store import TradeStore


@dataclass(slots=True)
class RestRequestRecord:
    """One answered REST request (handed to ``MarketState.on_request``)."""

    time_ns: int  # time.monotonic_ns() when answered
    method: str
    path: str
    status: int
    weight: int  # weight charged (0 when not charged: faults, bans, unknown paths)
    ip: str


@dataclass
class MarketState:
    """Everything the REST app reads: symbols, true books, published trades, weights, faults, clocks."""

    symbols: list[str]
    books: dict[str, TrueBook]
    trades: dict[str, TradeStore]
    weights: WeightLimiter
    faults: RestFaults
    server_time_ms: Callable[[], int]
    on_request: Callable[[RestRequestRecord], None] | None = None
    exchange_info_template: dict[str, Any] | None = None
