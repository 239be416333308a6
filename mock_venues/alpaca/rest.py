"""Alpaca's historical market-data REST (the parts a feed recovers with), served from what was published.

Routes (base URL = the venue's ``rest`` URL, what ``StockHistoricalDataClient(url_override=...)`` takes)::

    GET /v2/stocks/trades?symbols=IBM,BAC&start&end&limit&page_token&feed&sort
    GET /v2/stocks/quotes?...         GET /v2/stocks/bars?...&timeframe=1Min
    GET /v2/stocks/{symbol}/trades?start&end&limit&page_token&feed&sort
    GET /v1beta3/crypto/us/trades?symbols=BTC/USD&...
    GET /v1beta3/crypto/us/latest/orderbooks?symbols=BTC/USD

Responses as Alpaca's: ``{"trades": {"IBM": [...]}, "next_page_token": "..."|null}`` (single-symbol:
``{"trades": [...], "symbol": "IBM", "next_page_token": ...}``); times RFC-3339 with nanoseconds. ``limit``
(1..10000, default 1000) counts items over all symbols of a page. Auth: ``APCA-API-KEY-ID`` and
``APCA-API-SECRET-KEY`` (401 without, 403 with keys the venue refuses). Rate limit: a fixed minute window
per key (default 200), headers ``X-RateLimit-Limit``, ``X-RateLimit-Remaining``, ``X-RateLimit-Reset``
(Unix seconds) on every answer; over the limit 429 ``{"message":"too many requests."}``.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from mock_venues.alpaca.codec import parse_rfc3339, rfc3339_ns
from mock_venues.alpaca.model import AlpacaModel, Series
from mock_venues.base.rest_faults import RestFaults

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1000


@dataclass
class RestState:
    """What the REST app reads: the model, the rate limit, the fault, the key check."""

    model: AlpacaModel
    key_ok: Callable[[str, str], bool]
    rate_per_minute: int = 200
    page_max: int = MAX_LIMIT  # items per page at most, whatever the limit asked (Alpaca: 10000)
    market_of: Callable[[str], str | None] = lambda symbol: None  # symbol -> "stocks"/"crypto"/...
    clock: Callable[[], float] = time.time  # Unix seconds (tests pin it)
    faults: RestFaults = field(default_factory=RestFaults)
    on_request: Callable[[str, int], None] | None = None
    _windows: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (minute, used)

    def charge(self, key: str, now_s: float) -> tuple[bool, int, int]:
        """(allowed, remaining, reset Unix s) for one request of ``key``."""
        minute = int(now_s // 60)
        window, used = self._windows.get(key, (minute, 0))
        if window != minute:
            used = 0
        used += 1
        self._windows[key] = (minute, used)
        return used <= self.rate_per_minute, max(0, self.rate_per_minute - used), (minute + 1) * 60


class BadParam(ValueError):
    """A query parameter Alpaca would refuse (400 ``{"message": ...}``)."""


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


def encode_token(index: int) -> str:
    """An opaque page token for an offset."""
    return base64.urlsafe_b64encode(f"o:{index}".encode()).decode()


def decode_token(token: str) -> int:
    """The offset of a page token (BadParam)."""
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        kind, _, value = text.partition(":")
        if kind != "o":
            raise ValueError(text)
        index = int(value)
    except Exception:
        raise BadParam("invalid page token") from None
    if index < 0:
        raise BadParam("invalid page token")
    return index


def _wire(msg: dict[str, Any], kind: str) -> dict[str, Any]:
    """A published stream message as a REST item: no ``T``/``S``, times as RFC-3339."""
    out = {k: v for k, v in msg.items() if k not in ("T", "S")}
    out["t"] = rfc3339_ns(msg["t"])
    if kind == "trades" and "tks" in out:
        out["tks"] = msg["tks"]
    return out


def _params(request: web.Request) -> tuple[int | None, int | None, int, int, bool]:
    q = request.query
    try:
        start = parse_rfc3339(q["start"]) if q.get("start") else None
        end = parse_rfc3339(q["end"]) if q.get("end") else None
    except ValueError:
        raise BadParam("invalid start or end (RFC-3339 or YYYY-MM-DD)") from None
    limit_text = q.get("limit", str(DEFAULT_LIMIT))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise BadParam(f"invalid limit: must be within 1..{MAX_LIMIT}")
    offset = decode_token(q["page_token"]) if q.get("page_token") else 0
    sort = q.get("sort", "asc")
    if sort not in ("asc", "desc"):
        raise BadParam("invalid sort: asc or desc")
    return start, end, int(limit_text), offset, sort == "desc"


def _page(
    series: dict[str, Series], symbols: list[str], kind: str, request: web.Request, page_max: int
) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
    """One page over the symbols (in the order asked), items in time order within a symbol."""
    start, end, limit, offset, desc = _params(request)
    limit = min(limit, page_max)
    flat: list[tuple[str, dict[str, Any]]] = []
    for symbol in symbols:
        s = series.get(symbol)
        if s is None:
            continue
        items = sorted(s.window(start, end), key=lambda m: m["t"], reverse=desc)
        flat.extend((symbol, m) for m in items)
    chunk = flat[offset : offset + limit]
    out: dict[str, list[dict[str, Any]]] = {}
    for symbol, msg in chunk:
        out.setdefault(symbol, []).append(_wire(msg, kind))
    token = encode_token(offset + limit) if offset + limit < len(flat) else None
    return out, token


def _symbols(request: web.Request) -> list[str]:
    text = request.query.get("symbols", "")
    symbols = [s.strip() for s in text.split(",") if s.strip()]
    if not symbols:
        raise BadParam("missing symbols")
    return list(dict.fromkeys(symbols))


def build_rest_app(state: RestState) -> web.Application:
    """The REST application reading ``state``."""

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        key = request.headers.get("APCA-API-KEY-ID", "")
        secret = request.headers.get("APCA-API-SECRET-KEY", "")
        status = 0
        try:
            if not key or not secret:
                status = 401
                return _json(401, {"message": "unauthorized."})
            if not state.key_ok(key, secret):
                status = 403
                return _json(403, {"message": "forbidden."})
            allowed, remaining, reset = state.charge(key, state.clock())
            limit_headers = {
                "X-RateLimit-Limit": str(state.rate_per_minute),
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(reset),
            }
            fault = state.faults
            if fault.take(request.path):
                if fault.delay_s:
                    await asyncio.sleep(fault.delay_s)
                if fault.status is not None:
                    status = fault.status
                    headers = dict(limit_headers)
                    if fault.status == 429:
                        headers["X-RateLimit-Remaining"] = "0"
                        headers["Retry-After"] = str(
                            fault.retry_after_s if fault.retry_after_s is not None else 1
                        )
                        return _json(429, {"message": "too many requests."}, headers)
                    return _json(fault.status, {"message": "internal server error."}, headers)
            if not allowed:
                status = 429
                return _json(429, {"message": "too many requests."}, limit_headers)
            try:
                resp = await handler(request)
            except BadParam as exc:
                status = 400
                return _json(400, {"message": str(exc)}, limit_headers)
            resp.headers.update(limit_headers)
            status = resp.status
            return resp
        finally:
            if state.on_request is not None:
                state.on_request(request.path, status)

    model = state.model

    def multi(kind: str, store: Callable[[], dict[str, Series]], market: str = "stocks") -> Any:
        async def handler(request: web.Request) -> web.Response:
            if kind == "bars":
                tf = request.query.get("timeframe", "1Min")
                if tf not in ("1Min", "1T"):
                    raise BadParam("the mock serves timeframe=1Min only")
            symbols = [s for s in _symbols(request) if state.market_of(s) in (market, None)]
            items, token = _page(store(), symbols, kind, request, state.page_max)
            return _json(200, {kind: items, "next_page_token": token})

        return handler

    async def single_trades(request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"]
        if state.market_of(symbol) not in ("stocks", None):
            raise BadParam(f"invalid symbol: {symbol}")
        items, token = _page(model.trades, [symbol], "trades", request, state.page_max)
        return _json(200, {"trades": items.get(symbol, []), "symbol": symbol, "next_page_token": token})

    async def crypto_books(request: web.Request) -> web.Response:
        out = {}
        for symbol in _symbols(request):
            book = model.books.get(symbol)
            if book is None:
                continue
            msg = book.message(symbol, book.t)
            out[symbol] = {"t": rfc3339_ns(book.t), "b": msg["b"], "a": msg["a"]}
        return _json(200, {"orderbooks": out})

    app = web.Application(middlewares=[guard])
    app.add_routes(
        [
            web.get("/v2/stocks/trades", multi("trades", lambda: model.trades)),
            web.get("/v2/stocks/quotes", multi("quotes", lambda: model.quotes)),
            web.get("/v2/stocks/bars", multi("bars", lambda: model.bars)),
            web.get("/v2/stocks/{symbol}/trades", single_trades),
            web.get("/v1beta3/crypto/us/trades", multi("trades", lambda: model.trades, "crypto")),
            web.get("/v1beta3/crypto/us/latest/orderbooks", crypto_books),
        ]
    )
    return app
