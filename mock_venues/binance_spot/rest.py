"""Binance spot market-data REST (``/api/v3/...``) served from a :class:`MarketState`.

One catch-all aiohttp handler does, in order: injected REST fault (delay, then error status), route lookup
(404/405), parameter parsing (pure), weight charge (429/418 with ``Retry-After``), parameter errors (400),
the answer. Every response carries ``X-MBX-USED-WEIGHT-1M`` and every error is a Binance JSON body
``{"code": ..., "msg": ...}`` with ``Content-Type: application/json``. See ``docs/venue-rest.md``.
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from multidict import MultiMapping

from mock_venues.binance_spot.market import MarketState, RestRequestRecord
from mock_venues.binance_spot.trade_store import DEFAULT_LIMIT, MAX_LIMIT

MARKET_KEY = web.AppKey("market", MarketState)

INT_RANGE = "^[0-9]{1,20}$"
SYMBOL_RANGE = "^[A-Z0-9-_.]{1,20}$"
SYMBOLS_RANGE = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
_INT_RE = re.compile(INT_RANGE)
_SYMBOL_RE = re.compile(SYMBOL_RANGE)
_SYMBOLS_RE = re.compile(SYMBOLS_RANGE)
_INT64_MAX = 2**63 - 1
SYMBOL_STATUSES = frozenset({"TRADING", "HALT", "BREAK", "CANCEL_ONLY"})
DEPTH_DEFAULT_LIMIT = 100
DEPTH_MAX_LIMIT = 5000
# Quote assets recognised when a symbol's base/quote split must be guessed; the longest suffix wins.
_KNOWN_QUOTES = (
    *("USDT", "USDC", "FDUSD", "TUSD", "BUSD", "USDP", "DAI", "BTC", "ETH", "BNB", "XRP", "TRX", "DOGE"),
    *("DOT", "SOL", "EUR", "GBP", "TRY", "BRL", "AUD", "JPY", "RUB", "UAH", "NGN", "ZAR", "PLN", "RON"),
)
QUOTE_ASSETS: tuple[str, ...] = tuple(sorted(_KNOWN_QUOTES, key=len, reverse=True))
_CLONE_RE = re.compile(r"^(.+?)(F\d{3})$")


class ApiError(Exception):
    """A Binance error answer: HTTP status, negative error code, message."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg

    def body(self) -> dict[str, Any]:
        """The JSON body Binance sends."""
        return {"code": self.code, "msg": self.msg}


def illegal(name: str, legal: str) -> ApiError:
    """-1100 for a parameter that does not match its legal pattern."""
    return ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def mandatory(name: str) -> ApiError:
    """-1102 for a missing mandatory parameter."""
    return ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


INVALID_SYMBOL = ApiError(400, -1121, "Invalid symbol.")
BAD_COMBO = ApiError(400, -1128, "Combination of optional parameters invalid.")


# -- parameter parsing (pure) -------------------------------------------------------------------------


def flatten_params(query: MultiMapping[str], known: frozenset[str]) -> dict[str, str]:
    """One value per parameter: -1101 for a repeated parameter, -1104 when the endpoint does not read some."""
    params: dict[str, str] = {}
    for key, value in query.items():
        if key in params:
            raise ApiError(400, -1101, "Duplicate values for a parameter detected.")
        params[key] = value
    read = sum(1 for k in params if k in known)
    if read != len(params):
        raise ApiError(
            400,
            -1104,
            f"Not all sent parameters were read; read '{read}' parameter(s) but was sent '{len(params)}'.",
        )
    return params


def parse_symbol(params: Mapping[str, str], symbols: Mapping[str, Any] | list[str]) -> str:
    """The mandatory ``symbol``: -1102 missing, -1100 bad characters (lower case too), -1121 unknown."""
    value = params.get("symbol", "")
    if not value:
        raise mandatory("symbol")
    if not _SYMBOL_RE.match(value):
        raise illegal("symbol", SYMBOL_RANGE)
    if value not in symbols:
        raise INVALID_SYMBOL
    return value


def parse_int(params: Mapping[str, str], name: str) -> int | None:
    """An optional unsigned integer parameter (None when absent): -1105 empty, -1100 not digits, -1108 big."""
    value = params.get(name)
    if value is None:
        return None
    if value == "":
        raise ApiError(400, -1105, f"Parameter '{name}' was empty.")
    if not _INT_RE.match(value):
        raise illegal(name, INT_RANGE)
    number = int(value)
    if number > _INT64_MAX:
        raise ApiError(400, -1108, f"Parameter '{name}' overflowed.")
    return number


def parse_limit(params: Mapping[str, str], default: int, maximum: int) -> int:
    """``limit``: default when absent, -1130 for 0, values above ``maximum`` are cut to it."""
    limit = parse_int(params, "limit")
    if limit is None:
        return default
    if limit < 1:
        raise ApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
    return min(limit, maximum)


def depth_weight(limit: int) -> int:
    """Request weight of ``GET /api/v3/depth`` for a ``limit`` (Binance's table since 2023-10-19)."""
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def check_symbol_status(params: Mapping[str, str], status: str = "TRADING") -> None:
    """Optional ``symbolStatus`` filter of a one-symbol endpoint: -1122 invalid, -1220 mismatch."""
    wanted = params.get("symbolStatus")
    if wanted is None:
        return
    if wanted not in SYMBOL_STATUSES:
        raise ApiError(400, -1122, "Invalid symbolStatus.")
    if wanted != status:
        raise ApiError(400, -1220, "The symbol's status does not match the requested symbolStatus.")


@dataclass(frozen=True, slots=True)
class DepthQuery:
    """A parsed ``GET /api/v3/depth``."""

    symbol: str
    limit: int


def parse_depth(params: Mapping[str, str], symbols: Mapping[str, Any] | list[str]) -> DepthQuery:
    """``symbol`` (required), ``limit`` (default 100, cut to 5000), ``symbolStatus``."""
    symbol = parse_symbol(params, symbols)
    limit = parse_limit(params, DEPTH_DEFAULT_LIMIT, DEPTH_MAX_LIMIT)
    check_symbol_status(params)
    return DepthQuery(symbol, limit)


@dataclass(frozen=True, slots=True)
class AggTradesQuery:
    """A parsed ``GET /api/v3/aggTrades``."""

    symbol: str
    from_id: int | None
    start_time: int | None
    end_time: int | None
    limit: int


def parse_agg_trades(params: Mapping[str, str], symbols: Mapping[str, Any] | list[str]) -> AggTradesQuery:
    """``symbol``, ``fromId``, ``startTime``/``endTime`` (ms, inclusive, no window cap), ``limit``."""
    symbol = parse_symbol(params, symbols)
    from_id = parse_int(params, "fromId")
    start = parse_int(params, "startTime")
    end = parse_int(params, "endTime")
    limit = parse_limit(params, DEFAULT_LIMIT, MAX_LIMIT)
    return AggTradesQuery(symbol, from_id, start, end, limit)


@dataclass(frozen=True, slots=True)
class TradesQuery:
    """A parsed ``GET /api/v3/trades`` or ``/api/v3/historicalTrades`` (``from_id`` None = most recent)."""

    symbol: str
    from_id: int | None
    limit: int


def parse_trades(params: Mapping[str, str], symbols: Mapping[str, Any] | list[str]) -> TradesQuery:
    """``symbol``, ``limit`` (default 500, max 1000)."""
    symbol = parse_symbol(params, symbols)
    return TradesQuery(symbol, None, parse_limit(params, DEFAULT_LIMIT, MAX_LIMIT))


def parse_historical_trades(params: Mapping[str, str], symbols: Mapping[str, Any] | list[str]) -> TradesQuery:
    """``symbol``, ``fromId`` (trade id, inclusive), ``limit`` (default 500, max 1000)."""
    symbol = parse_symbol(params, symbols)
    from_id = parse_int(params, "fromId")
    return TradesQuery(symbol, from_id, parse_limit(params, DEFAULT_LIMIT, MAX_LIMIT))


@dataclass(frozen=True, slots=True)
class ExchangeInfoQuery:
    """A parsed ``GET /api/v3/exchangeInfo``: which symbols and how to show them."""

    symbols: tuple[str, ...]
    permissions: frozenset[str] | None = None
    show_permission_sets: bool = True
    symbol_status: str | None = None


def _parse_list_or_word(params: Mapping[str, str], name: str) -> frozenset[str] | None:
    value = params.get(name)
    if value is None:
        return None
    if re.fullmatch(r"[A-Z0-9_]+", value):
        return frozenset({value})
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'.") from None
    if not isinstance(parsed, list) or not all(isinstance(p, str) for p in parsed):
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'.")
    return frozenset(parsed)


def parse_exchange_info(params: Mapping[str, str], symbols: list[str]) -> ExchangeInfoQuery:
    """``symbol`` or ``symbols`` (JSON array), or ``permissions``/``symbolStatus``, ``showPermissionSets``."""
    one, many = params.get("symbol"), params.get("symbols")
    permissions = _parse_list_or_word(params, "permissions")
    status = params.get("symbolStatus")
    if status is not None and status not in SYMBOL_STATUSES:
        raise ApiError(400, -1122, "Invalid symbolStatus.")
    if (one is not None and many is not None) or (
        (one is not None or many is not None) and (permissions is not None or status is not None)
    ):
        raise BAD_COMBO
    show = params.get("showPermissionSets", "true")
    if show not in ("true", "false"):
        raise ApiError(400, -1130, "Data sent for parameter 'showPermissionSets' is not valid.")
    chosen: tuple[str, ...]
    if one is not None:
        chosen = (parse_symbol(params, symbols),)
    elif many is not None:
        if not many:
            raise mandatory("symbols")
        if not _SYMBOLS_RE.match(many):
            raise illegal("symbols", SYMBOLS_RANGE)
        names: list[str] = orjson.loads(many)
        if len(set(names)) != len(names):
            raise ApiError(400, -1151, "Symbol is present multiple times in the list.")
        if any(n not in symbols for n in names):
            raise INVALID_SYMBOL
        chosen = tuple(names) if names else tuple(symbols)
    else:
        chosen = tuple(symbols)
    return ExchangeInfoQuery(chosen, permissions, show == "true", status)


# -- exchangeInfo documents (pure) -------------------------------------------------------------------


def split_symbol(symbol: str) -> tuple[str, str]:
    """(baseAsset, quoteAsset) by the longest known quote suffix; fan-out clones keep their suffix on base."""
    clone = ""
    match = _CLONE_RE.match(symbol)
    if match and any(match.group(1).endswith(q) for q in QUOTE_ASSETS):
        symbol, clone = match.group(1), match.group(2)
    for quote in QUOTE_ASSETS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)] + clone, quote
    if len(symbol) <= 3:
        return symbol + clone, ""
    return symbol[:-3] + clone, symbol[-3:]


def _decimals(value: str) -> int:
    """Significant decimal places of a decimal string (``"61000.01000000"`` -> 2)."""
    _, _, frac = value.partition(".")
    return len(frac.rstrip("0"))


def _unit(decimals: int) -> str:
    """10**-decimals formatted with at least 8 decimals (``2`` -> ``"0.01000000"``)."""
    places = max(8, decimals)
    if decimals <= 0:
        return "1." + "0" * places
    return "0." + "0" * (decimals - 1) + "1" + "0" * (places - decimals)


def infer_steps(snapshot: Mapping[str, Any]) -> tuple[int, int] | None:
    """(price decimals, quantity decimals) seen in a depth snapshot; None when the book is empty."""
    levels = list(snapshot.get("bids", [])) + list(snapshot.get("asks", []))
    if not levels:
        return None
    return max(_decimals(p) for p, _ in levels), max(_decimals(q) for _, q in levels)


def synthesize_symbol(symbol: str, steps: tuple[int, int] | None = None) -> dict[str, Any]:
    """A Binance-shaped ``symbols[]`` entry for a symbol without a recorded one (permissive filters)."""
    base, quote = split_symbol(symbol)
    tick = _unit(steps[0]) if steps else _unit(8)
    step = _unit(steps[1]) if steps else _unit(8)
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": "10000000.00000000",
                "tickSize": tick,
            },
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "900000000.00000000", "stepSize": step},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "900000000.00000000",
                "stepSize": "0.00000000",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "0.00000001",
                "applyMinToMarket": True,
                "maxNotional": "9000000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def template_entries(template: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Recorded ``symbols[]`` entries by symbol, from a whole exchangeInfo document or a symbol->entry map."""
    if not template:
        return {}
    symbols = template.get("symbols")
    if isinstance(symbols, list):
        return {e["symbol"]: e for e in symbols if isinstance(e, dict) and isinstance(e.get("symbol"), str)}
    return {k: v for k, v in template.items() if isinstance(v, dict) and v.get("symbol", k) == k}


def recorded_entry(symbol: str, entries: Mapping[str, dict[str, Any]]) -> dict[str, Any] | None:
    """A deep copy of the recorded entry of ``symbol`` (a fan-out clone uses its original's, renamed)."""
    entry = entries.get(symbol)
    if entry is None:
        match = _CLONE_RE.match(symbol)
        entry = entries.get(match.group(1)) if match else None
        if entry is None:
            return None
        entry = copy.deepcopy(entry)
        entry["symbol"] = symbol
        return entry
    return copy.deepcopy(entry)


def rate_limits(weight_limit: int, window_ns: int) -> list[dict[str, Any]]:
    """The ``rateLimits`` array; REQUEST_WEIGHT is the limit the mock enforces."""
    interval, num = interval_of(window_ns)
    return [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": interval, "intervalNum": num, "limit": weight_limit},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 1, "limit": 10},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
    ]


def interval_of(window_ns: int) -> tuple[str, int]:
    """Binance's (interval, intervalNum) for a window length (60 s -> ("MINUTE", 1))."""
    seconds = max(1, window_ns // 1_000_000_000)
    if seconds % 86400 == 0:
        return "DAY", seconds // 86400
    if seconds % 3600 == 0:
        return "HOUR", seconds // 3600
    if seconds % 60 == 0:
        return "MINUTE", seconds // 60
    return "SECOND", seconds


def weight_header(window_ns: int) -> str:
    """``X-MBX-USED-WEIGHT-1M`` for a one-minute window (general form ``-<intervalNum><S|M|H|D>``)."""
    interval, num = interval_of(window_ns)
    return f"X-MBX-USED-WEIGHT-{num}{interval[0]}"


def select_entries(query: ExchangeInfoQuery, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply ``permissions``, ``symbolStatus`` and ``showPermissionSets`` to symbol entries."""
    out = []
    for entry in entries:
        if query.symbol_status is not None and entry.get("status", "TRADING") != query.symbol_status:
            continue
        if query.permissions is not None:
            held = {p for group in entry.get("permissionSets") or [["SPOT"]] for p in group}
            held.update(entry.get("permissions") or [])
            if not held & query.permissions:
                continue
        if not query.show_permission_sets:
            entry["permissionSets"] = []
        out.append(entry)
    return out


# -- fault and limit bodies (pure) --------------------------------------------------------------------

_FAULT_BODIES = {
    400: (-1000, "An unknown error occurred while processing the request."),
    401: (-2014, "API-key format invalid."),
    403: (-2015, "Invalid API-key, IP, or permissions for action."),
    404: (-1000, "An unknown error occurred while processing the request."),
    500: (-1001, "Internal error; unable to process your request. Please try again."),
    502: (-1001, "Internal error; unable to process your request. Please try again."),
    503: (-1008, "Server is currently overloaded with other requests. Please try again in a few minutes."),
    504: (
        -1007,
        "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
    ),
}


def too_much_weight(limit: int, window_ns: int) -> ApiError:
    """The 429 -1003 answer."""
    interval, num = interval_of(window_ns)
    return ApiError(
        429,
        -1003,
        f"Too much request weight used; current limit is {limit} request weight per {num} {interval}. "
        "Please use WebSocket Streams for live updates to avoid polling the API.",
    )


def banned(until_ms: int) -> ApiError:
    """The 418 -1003 answer."""
    return ApiError(
        418,
        -1003,
        f"Way too much request weight used; IP banned until {until_ms}. "
        "Please use WebSocket Streams for live updates to avoid bans.",
    )


def fault_error(status: int, retry_after_s: int, now_ms: int, limit: int, window_ns: int) -> ApiError:
    """The Binance-shaped body of an injected error status."""
    if status == 429:
        return too_much_weight(limit, window_ns)
    if status == 418:
        return banned(now_ms + retry_after_s * 1000)
    code, msg = _FAULT_BODIES.get(status, (-1000, "An unknown error occurred while processing the request."))
    return ApiError(status, code, msg)


# -- the endpoints ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One REST endpoint: accepted parameters, pure parser, weight, and the answer built from the market."""

    params: frozenset[str]
    parse: Callable[[Mapping[str, str], MarketState], Any]
    weight: Callable[[Any], int]
    default_weight: int
    answer: Callable[[MarketState, Any], Any]


def _exchange_info(market: MarketState, query: ExchangeInfoQuery, steps: dict[str, tuple[int, int]]) -> Any:
    recorded = template_entries(market.exchange_info_template)
    entries = []
    for symbol in query.symbols:
        entry = recorded_entry(symbol, recorded)
        if entry is None:
            if symbol not in steps:
                book = market.books.get(symbol)
                seen = infer_steps(book.snapshot(1000)) if book is not None else None
                if seen is not None:
                    steps[symbol] = seen
            entry = synthesize_symbol(symbol, steps.get(symbol))
        entries.append(entry)
    template = market.exchange_info_template or {}
    filters = template.get("exchangeFilters") if isinstance(template.get("exchangeFilters"), list) else []
    return {
        "timezone": "UTC",
        "serverTime": market.server_time_ms(),
        "rateLimits": rate_limits(market.weights.limit, market.weights.window_ns),
        "exchangeFilters": filters,
        "symbols": select_entries(query, entries),
    }


def _endpoints() -> dict[str, Endpoint]:
    steps: dict[str, tuple[int, int]] = {}  # inferred price/qty decimals per symbol, fixed once seen

    def no_params(_: Mapping[str, str], __: MarketState) -> None:
        return None

    def one(weight: int) -> Callable[[Any], int]:
        return lambda _: weight

    return {
        "/api/v3/ping": Endpoint(frozenset(), no_params, one(1), 1, lambda m, q: {}),
        "/api/v3/time": Endpoint(
            frozenset(), no_params, one(1), 1, lambda m, q: {"serverTime": m.server_time_ms()}
        ),
        "/api/v3/exchangeInfo": Endpoint(
            frozenset({"symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus"}),
            lambda p, m: parse_exchange_info(p, list(m.books)),
            one(20),
            20,
            lambda m, q: _exchange_info(m, q, steps),
        ),
        "/api/v3/depth": Endpoint(
            frozenset({"symbol", "limit", "symbolStatus"}),
            lambda p, m: parse_depth(p, m.books),
            lambda q: depth_weight(q.limit),
            depth_weight(DEPTH_DEFAULT_LIMIT),
            lambda m, q: m.books[q.symbol].snapshot(q.limit),
        ),
        "/api/v3/aggTrades": Endpoint(
            frozenset({"symbol", "fromId", "startTime", "endTime", "limit"}),
            lambda p, m: parse_agg_trades(p, m.books),
            one(4),
            4,
            lambda m, q: _trades(
                m, q.symbol, lambda s: s.agg_trades(q.from_id, q.start_time, q.end_time, q.limit)
            ),
        ),
        "/api/v3/trades": Endpoint(
            frozenset({"symbol", "limit"}),
            lambda p, m: parse_trades(p, m.books),
            one(25),
            25,
            lambda m, q: _trades(m, q.symbol, lambda s: s.recent_trades(q.limit)),
        ),
        "/api/v3/historicalTrades": Endpoint(
            frozenset({"symbol", "fromId", "limit"}),
            lambda p, m: parse_historical_trades(p, m.books),
            one(25),
            25,
            lambda m, q: _trades(m, q.symbol, lambda s: s.historical_trades(q.from_id, q.limit)),
        ),
    }


def _trades(market: MarketState, symbol: str, query: Callable[[Any], list[dict[str, Any]]]) -> Any:
    store = market.trades.get(symbol)
    return query(store) if store is not None else []


# -- the aiohttp app ----------------------------------------------------------------------------------


def _json(body: Any, status: int, headers: dict[str, str]) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="UTF-8",
    )


def build_rest_app(market: MarketState, *, clock_ns: Callable[[], int] = time.time_ns) -> web.Application:
    """The Binance spot REST application over ``market``; ``clock_ns`` drives the weight windows."""
    endpoints = _endpoints()
    weights = market.weights
    header = weight_header(weights.window_ns)

    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path
        ip = request.remote or "?"
        try:
            status, weight, response = await _answer(request, path, ip)
        except asyncio.CancelledError:
            raise  # the client went away (e.g. during a delay fault): nothing was answered
        except Exception as exc:  # a bug must still look like Binance to the client
            err = ApiError(500, -1000, f"An unknown error occurred while processing the request. ({exc!r})")
            status, weight = 500, 0
            response = _json(err.body(), 500, {header: str(weights.used(ip, clock_ns()))})
        if market.on_request is not None:
            market.on_request(
                RestRequestRecord(time.monotonic_ns(), request.method, path, status, weight, ip)
            )
        return response

    async def _answer(request: web.Request, path: str, ip: str) -> tuple[int, int, web.Response]:
        faults = market.faults
        if faults.take(path):
            if faults.delay_s > 0:
                await asyncio.sleep(faults.delay_s)
            if faults.status is not None:
                headers = {header: str(weights.used(ip, clock_ns()))}
                retry = faults.retry_after_s if faults.retry_after_s is not None else 1
                if faults.status in (418, 429):
                    headers["Retry-After"] = str(retry)
                err = fault_error(
                    faults.status, retry, market.server_time_ms(), weights.limit, weights.window_ns
                )
                return err.status, 0, _json(err.body(), err.status, headers)
        endpoint = endpoints.get(path)
        if endpoint is None or request.method not in ("GET", "HEAD"):
            err = (
                ApiError(404, -1000, f"Unknown endpoint {path}.")
                if endpoint is None
                else ApiError(405, -1000, f"Method {request.method} is not supported on {path}.")
            )
            headers = {header: str(weights.used(ip, clock_ns()))}
            return err.status, 0, _json(err.body(), err.status, headers)
        problem: ApiError | None = None
        try:
            query = endpoint.parse(flatten_params(request.query, endpoint.params), market)
            weight = endpoint.weight(query)
        except ApiError as exc:
            problem, query, weight = exc, None, endpoint.default_weight
        now = clock_ns()
        decision = weights.charge(ip, weight, now)
        headers = {header: str(decision.used)}
        if not decision.allowed:
            if decision.retry_after_s is not None:
                headers["Retry-After"] = str(decision.retry_after_s)
            if decision.status == 418:
                left_ms = max(0, weights.banned_until_ns(ip) - now) // 1_000_000
                problem = banned(market.server_time_ms() + left_ms)
                weight = 0
            else:
                problem = too_much_weight(weights.limit, weights.window_ns)
        if problem is not None:
            return problem.status, weight, _json(problem.body(), problem.status, headers)
        return 200, weight, _json(endpoint.answer(market, query), 200, headers)

    app = web.Application()
    app[MARKET_KEY] = market
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
