"""Alpaca stream names as the feed handles them: ``<channel>.<SYMBOL>``, one per subscription unit.

``<channel>`` is Alpaca's own subscribe key (``trades``, ``quotes``, ``bars``, ``updatedBars``,
``dailyBars``, ``statuses``, ``lulds``, ``orderbooks``, ``news``; plus ``corrections`` and
``cancelErrors``, which Alpaca adds by itself with stock ``trades``), ``<SYMBOL>`` the venue's symbol
verbatim: ``trades.AAPL``, ``quotes.AAPL``, ``orderbooks.BTC/USD``, ``trades.AAPL240315C00172500``,
``news.*``. The symbol says the asset class and with it the endpoint (../shared/protocols/alpaca.md §1):
a slash is a crypto pair (``/v1beta3/crypto/us``), an OCC contract symbol an option
(``/v1beta1/indicative``), ``news`` its own endpoint (``/v1beta1/news``), anything else a stock
(``/v2/iex``). (The mock venue keeps its own copy of these facts: the two sides never share code.)
"""

from __future__ import annotations

import re

from feed.adapter import Continuity, StreamSpec

STOCKS, CRYPTO, OPTIONS, NEWS = "stocks", "crypto", "options", "news"
ENDPOINTS = (STOCKS, CRYPTO, OPTIONS, NEWS)
DEFAULT_PATHS = {
    STOCKS: "/v2/iex",
    CRYPTO: "/v1beta3/crypto/us",
    OPTIONS: "/v1beta1/indicative",
    NEWS: "/v1beta1/news",
}
"""Endpoint paths relative to the WebSocket base URL (the sheet's defaults: IEX stocks, Alpaca crypto,
indicative options)."""

STOCK_RE = re.compile(r"[A-Z][A-Z0-9.\-]{0,15}")
CRYPTO_RE = re.compile(r"[A-Z0-9]{1,15}/[A-Z0-9]{1,15}")
OPTION_RE = re.compile(r"[A-Z]{1,6}[0-9]{6}[CP][0-9]{8}")

# channel (Alpaca's subscribe key) -> (normalized channel, endpoints offering it)
CHANNELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "trades": ("trade", (STOCKS, CRYPTO, OPTIONS)),
    "quotes": ("quote", (STOCKS, CRYPTO, OPTIONS)),
    "bars": ("bar", (STOCKS, CRYPTO)),
    "updatedBars": ("bar", (STOCKS, CRYPTO)),
    "dailyBars": ("bar", (STOCKS, CRYPTO)),
    "statuses": ("trading_status", (STOCKS,)),
    "lulds": ("trading_status", (STOCKS,)),
    "corrections": ("correction", (STOCKS,)),
    "cancelErrors": ("correction", (STOCKS,)),
    "orderbooks": ("book", (CRYPTO,)),
    "news": ("news", (NEWS,)),
}
IMPLICIT = ("corrections", "cancelErrors")
"""Channels Alpaca subscribes by itself with stock ``trades`` (the feed watches them, never asks)."""
CONFIGURABLE = tuple(c for c in CHANNELS if c not in IMPLICIT)
"""Stream kinds the ``streams`` setting may name."""

TYPE_CHANNEL = {
    "t": "trades",
    "q": "quotes",
    "b": "bars",
    "u": "updatedBars",
    "d": "dailyBars",
    "s": "statuses",
    "l": "lulds",
    "c": "corrections",
    "x": "cancelErrors",
    "o": "orderbooks",
    "n": "news",
}
"""A data message's ``T`` code -> the channel (stream kind) it belongs to."""

NEWS_STREAM = "news.*"


def endpoint_of_symbol(symbol: str) -> str | None:
    """The endpoint (asset class) of a symbol; None when it is no valid Alpaca symbol."""
    if CRYPTO_RE.fullmatch(symbol):
        return CRYPTO
    if OPTION_RE.fullmatch(symbol):
        return OPTIONS
    if STOCK_RE.fullmatch(symbol):
        return STOCKS
    return None


def endpoint_of(spec: StreamSpec) -> str:
    """The endpoint a stream is carried on."""
    return NEWS if spec.kind == "news" else endpoint_of_symbol(spec.symbol) or STOCKS


def stream_spec(name: str) -> StreamSpec | None:
    """``trades.AAPL`` -> its spec; None for anything the feed does not ingest."""
    kind, sep, symbol = name.partition(".")
    entry = CHANNELS.get(kind)
    if not sep or entry is None:
        return None
    channel, endpoints = entry
    if kind == "news":
        if symbol != "*":
            return None
        endpoint = NEWS
    else:
        endpoint = endpoint_of_symbol(symbol) or ""
        if endpoint not in endpoints:
            return None
    # Trades of stocks and crypto can be fetched again by time window from the historical REST API;
    # nothing else has a REST window in the recovery path (its windows after a drop are gaps).
    backfill = kind == "trades" and endpoint in (STOCKS, CRYPTO)
    return StreamSpec(
        name=name,
        symbol=symbol,
        kind=kind,
        channel=channel,
        continuity=Continuity.TIME,
        book=kind == "orderbooks",
        backfill=backfill,
    )
