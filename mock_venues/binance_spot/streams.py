"""Binance spot stream names: which names are well formed, and what kind of stream each one is."""

from __future__ import annotations

import re
from dataclasses import dataclass

KLINE_INTERVALS = (
    "1s",
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1d",
    "3d",
    "1w",
    "1M",
)
_SYMBOL = r"(?P<symbol>[a-z0-9_\-.]{2,30})"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("trade", rf"{_SYMBOL}@trade"),
        ("aggTrade", rf"{_SYMBOL}@aggTrade"),
        ("blockTrade", rf"{_SYMBOL}@blockTrade"),
        ("kline", rf"{_SYMBOL}@kline_(?P<interval>{'|'.join(KLINE_INTERVALS)})(@\+08:00)?"),
        ("miniTicker", rf"{_SYMBOL}@miniTicker"),
        ("ticker", rf"{_SYMBOL}@ticker"),
        ("rollingTicker", rf"{_SYMBOL}@ticker_(1h|4h|1d)"),
        ("bookTicker", rf"{_SYMBOL}@bookTicker"),
        ("avgPrice", rf"{_SYMBOL}@avgPrice"),
        ("referencePrice", rf"{_SYMBOL}@referencePrice"),
        ("partialDepth", rf"{_SYMBOL}@depth(?P<levels>5|10|20)(@100ms)?"),
        ("depth", rf"{_SYMBOL}@depth(@100ms)?"),
        ("allMarket", r"!(miniTicker|ticker|ticker_1h|ticker_4h|ticker_1d)@arr"),
    )
)


@dataclass(frozen=True)
class StreamName:
    """A parsed stream name: its kind (``depth``, ``trade``...) and upper-case symbol ("" for ``!…@arr``)."""

    name: str
    kind: str
    symbol: str


def parse_stream(name: str) -> StreamName | None:
    """Parse a client stream name; None when Binance would answer ``Invalid request: invalid stream``.

    Symbols must be lower case, as on the real venue (``BTCUSDT@trade`` is not a valid stream name).
    """
    if not isinstance(name, str) or len(name) > 100:
        return None
    for kind, pattern in _PATTERNS:
        match = pattern.fullmatch(name)
        if match is not None:
            symbol = match.groupdict().get("symbol") or ""
            return StreamName(name, kind, symbol.upper())
    return None
