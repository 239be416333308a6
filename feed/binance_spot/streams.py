"""Binance spot stream names as the feed handles them: which kinds exist, and what each one is.

A stream is ``<lower-case symbol>@<kind>``; the kinds the feed ingests are ``trade``, ``aggTrade``,
``depth`` and ``depth@100ms`` (diff depth), ``bookTicker`` and ``kline_<interval>``. (The mock venue keeps
its own copy of Binance's stream grammar: the two sides are checked against each other, never share code.)
"""

from __future__ import annotations

import re

from feed.adapter import Continuity, StreamSpec

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
STREAM_KINDS = (
    "trade",
    "aggTrade",
    "depth",
    "depth@100ms",
    "bookTicker",
    *(f"kline_{i}" for i in KLINE_INTERVALS),
)
SYMBOL_RE = re.compile(r"[a-z0-9_]{2,30}")

# stream kind (as in a stream name) -> (kind label, channel, continuity)
_KINDS: dict[str, tuple[str, str, Continuity]] = {
    "trade": ("trade", "trade", Continuity.STEP),
    "aggTrade": ("aggTrade", "trade", Continuity.STEP),
    "depth": ("depth", "book", Continuity.CHAINED),
    "depth@100ms": ("depth", "book", Continuity.CHAINED),
    "bookTicker": ("bookTicker", "quote", Continuity.INCREASING),
    **{f"kline_{i}": ("kline", "bar", Continuity.INCREASING) for i in KLINE_INTERVALS},
}


def stream_spec(name: str) -> StreamSpec | None:
    """``btcusdt@depth@100ms`` -> its spec; None for anything the feed does not ingest."""
    symbol, sep, stream_kind = name.partition("@")
    entry = _KINDS.get(stream_kind) if sep and SYMBOL_RE.fullmatch(symbol) else None
    if entry is None:
        return None
    kind, channel, continuity = entry
    return StreamSpec(
        name=name,
        symbol=symbol.upper(),
        kind=kind,
        channel=channel,
        continuity=continuity,
        book=kind == "depth",
        backfill=continuity is Continuity.STEP,
    )


def stream_kind(name: str) -> str | None:
    """The payload kind a stream carries (``trade``, ``aggTrade``, ``depth``, ``bookTicker``, ``kline``)."""
    spec = stream_spec(name)
    return spec.kind if spec is not None else None
