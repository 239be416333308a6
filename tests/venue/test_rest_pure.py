"""The venue's Binance REST without a running venue: pure parsing, and the app on an aiohttp test server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict

from mock_venues.base.limits import MINUTE_NS, WeightLimiter
from mock_venues.binance_spot.book import TrueBook
from mock_venues.binance_spot.market import MarketState, RestFaults, RestRequestRecord
from mock_venues.binance_spot.rest import (
    SYMBOLS_RANGE,
    ApiError,
    ExchangeInfoQuery,
    build_rest_app,
    depth_weight,
    fault_error,
    flatten_params,
    infer_steps,
    parse_agg_trades,
    parse_depth,
    parse_exchange_info,
    parse_historical_trades,
    parse_int,
    parse_symbol,
    split_symbol,
    synthesize_symbol,
    weight_header,
)
from mock_venues.binance_spot.trade_store import TradeStore

SYMBOLS = ["BTCUSDT", "ETHBTC"]
SERVER_MS = 1_719_400_000_000
T0 = 1_000 * MINUTE_NS  # weight clock at the start of a minute


def _err(exc: pytest.ExceptionInfo[ApiError]) -> tuple[int, int, str]:
    return exc.value.status, exc.value.code, exc.value.msg


# -- pure parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "weight"),
    [(1, 5), (100, 5), (101, 25), (500, 25), (501, 50), (1000, 50), (1001, 250), (5000, 250)],
)
def test_depth_weights(limit: int, weight: int) -> None:
    assert depth_weight(limit) == weight


def test_depth_params() -> None:
    assert parse_depth({"symbol": "BTCUSDT"}, SYMBOLS).limit == 100
    assert parse_depth({"symbol": "BTCUSDT", "limit": "7"}, SYMBOLS).limit == 7
    assert parse_depth({"symbol": "BTCUSDT", "limit": "9999"}, SYMBOLS).limit == 5000  # cut, as documented
    assert parse_depth({"symbol": "BTCUSDT", "symbolStatus": "TRADING"}, SYMBOLS).symbol == "BTCUSDT"


@pytest.mark.parametrize(
    ("params", "code", "msg"),
    [
        ({}, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."),
        ({"symbol": ""}, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."),
        (
            {"symbol": "btcusdt"},
            -1100,
            "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'.",
        ),
        ({"symbol": "NOPEUSDT"}, -1121, "Invalid symbol."),
        (
            {"symbol": "BTCUSDT", "limit": "-5"},
            -1100,
            "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
        ),
        ({"symbol": "BTCUSDT", "limit": ""}, -1105, "Parameter 'limit' was empty."),
        ({"symbol": "BTCUSDT", "limit": "0"}, -1130, "Data sent for parameter 'limit' is not valid."),
        ({"symbol": "BTCUSDT", "limit": "99999999999999999999"}, -1108, "Parameter 'limit' overflowed."),
        ({"symbol": "BTCUSDT", "symbolStatus": "NOPE"}, -1122, "Invalid symbolStatus."),
        (
            {"symbol": "BTCUSDT", "symbolStatus": "HALT"},
            -1220,
            "The symbol's status does not match the requested symbolStatus.",
        ),
    ],
)
def test_depth_param_errors(params: dict[str, str], code: int, msg: str) -> None:
    with pytest.raises(ApiError) as exc:
        parse_depth(params, SYMBOLS)
    assert _err(exc) == (400, code, msg)


def test_flatten_params_duplicates_and_unread() -> None:
    known = frozenset({"symbol", "limit"})
    assert flatten_params(MultiDict([("symbol", "BTCUSDT")]), known) == {"symbol": "BTCUSDT"}
    with pytest.raises(ApiError) as exc:
        flatten_params(MultiDict([("symbol", "A"), ("symbol", "B")]), known)
    assert _err(exc) == (400, -1101, "Duplicate values for a parameter detected.")
    with pytest.raises(ApiError) as exc:
        flatten_params(MultiDict([("symbol", "A"), ("foo", "1"), ("bar", "2")]), known)
    assert _err(exc) == (
        400,
        -1104,
        "Not all sent parameters were read; read '1' parameter(s) but was sent '3'.",
    )


def test_int_and_symbol_helpers() -> None:
    assert parse_int({}, "fromId") is None
    assert parse_int({"fromId": "0"}, "fromId") == 0
    assert parse_int({"fromId": "9223372036854775807"}, "fromId") == 2**63 - 1
    with pytest.raises(ApiError):
        parse_int({"fromId": "1.5"}, "fromId")
    assert parse_symbol({"symbol": "ETHBTC"}, {"ETHBTC": object()}) == "ETHBTC"


def test_agg_and_historical_params() -> None:
    q = parse_agg_trades({"symbol": "BTCUSDT", "fromId": "7", "startTime": "1", "endTime": "2"}, SYMBOLS)
    assert (q.from_id, q.start_time, q.end_time, q.limit) == (7, 1, 2, 500)
    assert parse_agg_trades({"symbol": "BTCUSDT", "limit": "5000"}, SYMBOLS).limit == 1000
    h = parse_historical_trades({"symbol": "ETHBTC", "fromId": "3", "limit": "10"}, SYMBOLS)
    assert (h.symbol, h.from_id, h.limit) == ("ETHBTC", 3, 10)
    with pytest.raises(ApiError) as exc:
        parse_agg_trades({"symbol": "BTCUSDT", "startTime": "yesterday"}, SYMBOLS)
    assert exc.value.code == -1100 and "'startTime'" in exc.value.msg


def test_exchange_info_params() -> None:
    assert parse_exchange_info({}, SYMBOLS) == ExchangeInfoQuery(("BTCUSDT", "ETHBTC"))
    assert parse_exchange_info({"symbol": "ETHBTC"}, SYMBOLS).symbols == ("ETHBTC",)
    assert parse_exchange_info({"symbols": '["ETHBTC","BTCUSDT"]'}, SYMBOLS).symbols == ("ETHBTC", "BTCUSDT")
    q = parse_exchange_info({"permissions": '["SPOT","MARGIN"]', "showPermissionSets": "false"}, SYMBOLS)
    assert q.permissions == frozenset({"SPOT", "MARGIN"}) and q.show_permission_sets is False
    assert parse_exchange_info({"permissions": "SPOT"}, SYMBOLS).permissions == frozenset({"SPOT"})


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"symbol": "NOPE"}, -1121),
        ({"symbols": '["BTCUSDT","NOPE"]'}, -1121),
        ({"symbols": '["BTCUSDT", "ETHBTC"]'}, -1100),  # Binance's pattern allows no spaces
        ({"symbols": "BTCUSDT"}, -1100),
        ({"symbols": '["BTCUSDT","BTCUSDT"]'}, -1151),
        ({"symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'}, -1128),
        ({"symbol": "BTCUSDT", "permissions": "SPOT"}, -1128),
        ({"symbolStatus": "SLEEPING"}, -1122),
        ({"showPermissionSets": "maybe"}, -1130),
    ],
)
def test_exchange_info_param_errors(params: dict[str, str], code: int) -> None:
    with pytest.raises(ApiError) as exc:
        parse_exchange_info(params, SYMBOLS)
    assert exc.value.status == 400 and exc.value.code == code
    if code == -1100 and "symbols" in params:
        assert (
            exc.value.msg
            == f"Illegal characters found in parameter 'symbols'; legal range is '{SYMBOLS_RANGE}'."
        )


@pytest.mark.parametrize(
    ("symbol", "base", "quote"),
    [
        ("BTCUSDT", "BTC", "USDT"),
        ("ETHBTC", "ETH", "BTC"),
        ("BNBFDUSD", "BNB", "FDUSD"),
        ("NKNUSDT", "NKN", "USDT"),
        ("BTCUSDTF001", "BTCF001", "USDT"),  # fan-out clone
        ("XYZABC", "XYZ", "ABC"),  # unknown quote: last three letters
    ],
)
def test_split_symbol(symbol: str, base: str, quote: str) -> None:
    assert split_symbol(symbol) == (base, quote)


def test_synthesized_symbol_infers_tick_and_step_from_the_book() -> None:
    snap = {"bids": [["61000.01000000", "0.00501000"], ["61000.00000000", "1.20000000"]], "asks": []}
    steps = infer_steps(snap)
    assert steps == (2, 5)
    entry = synthesize_symbol("BTCUSDT", steps)
    filters = {f["filterType"]: f for f in entry["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert infer_steps({"bids": [], "asks": []}) is None
    plain = {f["filterType"]: f for f in synthesize_symbol("ETHBTC")["filters"]}
    assert plain["PRICE_FILTER"]["tickSize"] == "0.00000001"


def test_weight_header_name() -> None:
    assert weight_header(MINUTE_NS) == "X-MBX-USED-WEIGHT-1M"
    assert weight_header(10 * 1_000_000_000) == "X-MBX-USED-WEIGHT-10S"


def test_fault_bodies() -> None:
    assert fault_error(503, 1, 0, 6000, MINUTE_NS).body()["code"] == -1008
    assert fault_error(500, 1, 0, 6000, MINUTE_NS).body()["code"] == -1001
    assert fault_error(504, 1, 0, 6000, MINUTE_NS).body()["code"] == -1007
    too_many = fault_error(429, 1, 0, 6000, MINUTE_NS)
    assert too_many.code == -1003 and "current limit is 6000 request weight per 1 MINUTE" in too_many.msg
    assert "IP banned until 5000." in fault_error(418, 5, 0, 6000, MINUTE_NS).msg
    assert fault_error(599, 1, 0, 6000, MINUTE_NS).body() == {
        "code": -1000,
        "msg": "An unknown error occurred while processing the request.",
    }


def test_rest_faults_validation_and_counting() -> None:
    faults = RestFaults(status=503, count=2, paths=frozenset({"depth", "/api/v3/time"}))
    assert not faults.take("/api/v3/ping")
    assert faults.take("/api/v3/depth") and faults.take("/api/v3/time")
    assert not faults.take("/api/v3/depth") and not faults.active
    assert RestFaults(delay_s=1).delay_s == 1.0
    assert not RestFaults().active
    assert RestFaults(paths=["depth"]).paths == frozenset({"depth"})  # type: ignore[arg-type]
    for bad in ({"count": 0}, {"count": True}, {"delay_s": -1}, {"status": 99}, {"retry_after_s": "1"}):
        with pytest.raises(ValueError):
            RestFaults(**bad)


# -- the app on an aiohttp test server ------------------------------------------------------------------


@dataclass
class Clock:
    """A hand-driven nanosecond clock for the weight windows."""

    ns: int = T0

    def __call__(self) -> int:
        return self.ns


@dataclass
class Rest:
    """A REST app under test with its market, clock and the requests it answered."""

    client: TestClient[Any, Any]
    market: MarketState
    clock: Clock
    records: list[RestRequestRecord] = field(default_factory=list)

    async def get(self, path: str, **params: Any) -> tuple[int, Any, Any]:
        resp = await self.client.get(path, params={k: str(v) for k, v in params.items()})
        body = orjson.loads(await resp.read())
        return resp.status, body, resp.headers


def _book(symbol: str, levels: int = 2000) -> TrueBook:
    book = TrueBook(symbol)
    bids = [[f"{60000 - i * 0.01:.8f}", f"{1 + i % 7:.8f}"] for i in range(levels)]
    asks = [[f"{60000.01 + i * 0.01:.8f}", f"{0.5 + i % 5:.8f}"] for i in range(levels)]
    book.load_snapshot(1027024, bids, asks)
    return book


def _market(limit: int = 6000, ban_scale: float = 1.0, template: dict[str, Any] | None = None) -> MarketState:
    trades = {s: TradeStore() for s in SYMBOLS}
    for i in range(30):
        trades["BTCUSDT"].add_trade(1000 + i, "4.00000100", "12.00000000", 1_499_865_549_590 + i, i % 2 == 0)
        trades["BTCUSDT"].add_agg(
            500 + i, "4.00000100", "12.00000000", 1000 + i, 1000 + i, 1_000 + 10 * i, True
        )
    return MarketState(
        symbols=list(SYMBOLS),
        books={"BTCUSDT": _book("BTCUSDT"), "ETHBTC": TrueBook("ETHBTC")},
        trades=trades,
        weights=WeightLimiter(limit=limit, ban_scale=ban_scale),
        faults=RestFaults(),
        server_time_ms=lambda: SERVER_MS,
        exchange_info_template=template,
    )


@pytest.fixture
async def rest() -> AsyncIterator[Rest]:
    async with _serve(_market()) as r:
        yield r


class _serve:
    def __init__(self, market: MarketState) -> None:
        self.market = market
        self.clock = Clock()

    async def __aenter__(self) -> Rest:
        records: list[RestRequestRecord] = []
        self.market.on_request = records.append
        app = build_rest_app(self.market, clock_ns=self.clock)
        self.client = TestClient(TestServer(app, host="127.0.0.1"))
        await self.client.start_server()
        return Rest(self.client, self.market, self.clock, records)

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()


WEIGHT = "X-MBX-USED-WEIGHT-1M"


async def test_ping_and_time(rest: Rest) -> None:
    status, body, headers = await rest.get("/api/v3/ping")
    assert (status, body) == (200, {})
    assert headers[WEIGHT] == "1"
    assert headers["Content-Type"].startswith("application/json")
    status, body, headers = await rest.get("/api/v3/time")
    assert (status, body, headers[WEIGHT]) == (200, {"serverTime": SERVER_MS}, "2")
    assert [(r.path, r.status, r.weight, r.ip) for r in rest.records] == [
        ("/api/v3/ping", 200, 1, "127.0.0.1"),
        ("/api/v3/time", 200, 1, "127.0.0.1"),
    ]


@pytest.mark.parametrize(
    ("limit", "weight", "levels"), [(None, 5, 100), (5, 5, 5), (500, 25, 500), (5000, 250, 2000)]
)
async def test_depth_serves_the_book_with_weights(
    rest: Rest, limit: int | None, weight: int, levels: int
) -> None:
    params = {"symbol": "BTCUSDT"} | ({"limit": limit} if limit else {})
    status, body, headers = await rest.get("/api/v3/depth", **params)
    assert status == 200
    assert body == rest.market.books["BTCUSDT"].snapshot(levels)
    assert body["lastUpdateId"] == 1027024 and len(body["bids"]) == levels
    assert body["bids"][0] == ["60000.00000000", "1.00000000"]
    assert headers[WEIGHT] == str(weight)


async def test_depth_of_an_empty_book(rest: Rest) -> None:
    status, body, _ = await rest.get("/api/v3/depth", symbol="ETHBTC")
    assert (status, body) == (200, {"lastUpdateId": 0, "bids": [], "asks": []})


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/api/v3/depth", {}, 400, -1102),
        ("/api/v3/depth", {"symbol": "btcusdt"}, 400, -1100),
        ("/api/v3/depth", {"symbol": "DOGEUSDT"}, 400, -1121),
        ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": "abc"}, 400, -1100),
        ("/api/v3/depth", {"symbol": "BTCUSDT", "foo": "1"}, 400, -1104),
        ("/api/v3/aggTrades", {"symbol": "BTCUSDT", "fromId": "x"}, 400, -1100),
        ("/api/v3/exchangeInfo", {"symbol": "NOPE"}, 400, -1121),
        ("/api/v3/ping", {"x": "1"}, 400, -1104),
        ("/api/v3/klines", {"symbol": "BTCUSDT"}, 404, -1000),
        ("/nothing/here", {}, 404, -1000),
    ],
)
async def test_errors_are_binance_json(
    rest: Rest, path: str, params: dict[str, str], status: int, code: int
) -> None:
    got_status, body, headers = await rest.get(path, **params)
    assert got_status == status
    assert body["code"] == code and isinstance(body["msg"], str) and set(body) == {"code", "msg"}
    assert headers["Content-Type"].startswith("application/json")
    assert WEIGHT in headers


async def test_bad_requests_still_cost_weight_but_unknown_paths_do_not(rest: Rest) -> None:
    await rest.get("/api/v3/depth", symbol="NOPE")  # default depth weight
    await rest.get("/nothing")
    _, _, headers = await rest.get("/api/v3/ping")
    assert headers[WEIGHT] == "6"
    assert [r.weight for r in rest.records] == [5, 0, 1]


async def test_wrong_method_is_405_json(rest: Rest) -> None:
    resp = await rest.client.post("/api/v3/depth", params={"symbol": "BTCUSDT"})
    assert resp.status == 405
    assert (await resp.json())["code"] == -1000
    assert resp.headers["Content-Type"].startswith("application/json")


async def test_429_then_418_with_retry_after() -> None:
    async with _serve(_market(limit=30)) as rest:
        rest.clock.ns = T0 + 40 * 1_000_000_000  # 20 s left in the minute
        assert (await rest.get("/api/v3/depth", symbol="BTCUSDT", limit=500))[0] == 200  # 25
        status, body, headers = await rest.get("/api/v3/depth", symbol="BTCUSDT")  # 30: still fine
        assert (status, headers[WEIGHT]) == (200, "30")
        status, body, headers = await rest.get("/api/v3/ping")  # 31
        assert status == 429
        assert body == {
            "code": -1003,
            "msg": "Too much request weight used; current limit is 30 request weight per 1 MINUTE. "
            "Please use WebSocket Streams for live updates to avoid polling the API.",
        }
        assert (headers["Retry-After"], headers[WEIGHT]) == ("20", "31")
        rest.clock.ns += 5 * 1_000_000_000
        status, body, headers = await rest.get("/api/v3/ping")  # did not back off: banned
        assert status == 418 and body["code"] == -1003
        assert headers["Retry-After"] == "120"
        assert body["msg"] == (
            f"Way too much request weight used; IP banned until {SERVER_MS + 120_000}. "
            "Please use WebSocket Streams for live updates to avoid bans."
        )
        rest.clock.ns += 60 * 1_000_000_000
        status, _, headers = await rest.get("/api/v3/ping")
        assert status == 418 and headers["Retry-After"] == "60"
        rest.clock.ns += 61 * 1_000_000_000
        status, _, headers = await rest.get("/api/v3/ping")
        assert status == 200 and headers[WEIGHT] == "1"
        assert [r.status for r in rest.records] == [200, 200, 429, 418, 418, 200]
        assert [r.weight for r in rest.records] == [25, 5, 1, 0, 0, 1]


async def test_ban_scale_shortens_the_ban() -> None:
    async with _serve(_market(limit=1, ban_scale=0.05)) as rest:
        await rest.get("/api/v3/ping")
        assert (await rest.get("/api/v3/ping"))[0] == 429
        status, _, headers = await rest.get("/api/v3/ping")
        assert status == 418 and headers["Retry-After"] == "6"  # 120 s * 0.05


async def test_status_fault_for_count_requests(rest: Rest) -> None:
    rest.market.faults = RestFaults(status=503, count=2)
    for _ in range(2):
        status, body, headers = await rest.get("/api/v3/depth", symbol="NOT-EVEN-VALIDATED")
        assert status == 503 and body["code"] == -1008
        assert headers["Content-Type"].startswith("application/json")
        assert headers[WEIGHT] == "0" and "Retry-After" not in headers
    assert (await rest.get("/api/v3/ping"))[0] == 200
    assert [(r.status, r.weight) for r in rest.records] == [(503, 0), (503, 0), (200, 1)]


@pytest.mark.parametrize(("status", "retry", "header"), [(429, None, "1"), (418, 7, "7"), (429, 3, "3")])
async def test_429_and_418_faults_carry_retry_after(
    rest: Rest, status: int, retry: int | None, header: str
) -> None:
    rest.market.faults = RestFaults(status=status, retry_after_s=retry)
    got, body, headers = await rest.get("/api/v3/ping")
    assert got == status and body["code"] == -1003
    assert headers["Retry-After"] == header


async def test_fault_only_on_chosen_paths(rest: Rest) -> None:
    rest.market.faults = RestFaults(status=500, paths=frozenset({"/api/v3/depth"}))
    assert (await rest.get("/api/v3/ping"))[0] == 200
    assert (await rest.get("/api/v3/depth", symbol="BTCUSDT"))[0] == 500
    rest.market.faults = RestFaults(status=500, paths=frozenset({"time"}))
    assert (await rest.get("/api/v3/time"))[0] == 500


async def test_delay_fault_then_normal_answer(rest: Rest) -> None:
    rest.market.faults = RestFaults(delay_s=0.3, count=1)
    start = time.monotonic()
    status, body, _ = await rest.get("/api/v3/depth", symbol="BTCUSDT", limit=1)
    assert time.monotonic() - start >= 0.29
    assert status == 200 and len(body["bids"]) == 1
    start = time.monotonic()
    await rest.get("/api/v3/ping")
    assert time.monotonic() - start < 0.25


async def test_delay_and_status_together(rest: Rest) -> None:
    rest.market.faults = RestFaults(status=504, delay_s=0.2)
    start = time.monotonic()
    status, body, _ = await rest.get("/api/v3/time")
    assert status == 504 and body["code"] == -1007
    assert time.monotonic() - start >= 0.19


async def test_trades_endpoints(rest: Rest) -> None:
    status, body, headers = await rest.get("/api/v3/aggTrades", symbol="BTCUSDT", fromId=510, limit=3)
    assert status == 200 and headers[WEIGHT] == "4"
    assert [t["a"] for t in body] == [510, 511, 512]
    assert body[0] == {
        "a": 510,
        "p": "4.00000100",
        "q": "12.00000000",
        "f": 1010,
        "l": 1010,
        "T": 1100,
        "m": True,
        "M": True,
    }
    _, body, _ = await rest.get("/api/v3/aggTrades", symbol="BTCUSDT", startTime=1_050, endTime=1_070)
    assert [t["T"] for t in body] == [1_050, 1_060, 1_070]
    _, body, headers = await rest.get("/api/v3/trades", symbol="BTCUSDT", limit=2)
    assert [t["id"] for t in body] == [1028, 1029] and headers[WEIGHT] == "33"
    assert body[0]["quoteQty"] == "48.00001200" and Decimal(body[0]["quoteQty"]) == Decimal("48.000012")
    assert body[0]["isBuyerMaker"] is True and body[0]["isBestMatch"] is True
    _, body, headers = await rest.get("/api/v3/historicalTrades", symbol="BTCUSDT", fromId=1003, limit=2)
    assert [t["id"] for t in body] == [1003, 1004] and headers[WEIGHT] == "58"
    _, body, _ = await rest.get("/api/v3/trades", symbol="ETHBTC")
    assert body == []


async def test_exchange_info_synthesized(rest: Rest) -> None:
    status, body, headers = await rest.get("/api/v3/exchangeInfo")
    assert status == 200 and headers[WEIGHT] == "20"
    assert body["timezone"] == "UTC" and body["serverTime"] == SERVER_MS
    assert body["rateLimits"][0] == {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 6000,
    }
    assert {r["rateLimitType"] for r in body["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS", "RAW_REQUESTS"}
    assert body["exchangeFilters"] == []
    assert [s["symbol"] for s in body["symbols"]] == ["BTCUSDT", "ETHBTC"]
    btc = body["symbols"][0]
    assert (btc["status"], btc["baseAsset"], btc["quoteAsset"]) == ("TRADING", "BTC", "USDT")
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"  # inferred from the book
    _, body, _ = await rest.get("/api/v3/exchangeInfo", symbol="ETHBTC")
    assert [s["symbol"] for s in body["symbols"]] == ["ETHBTC"]
    _, body, _ = await rest.get("/api/v3/exchangeInfo", symbols='["ETHBTC","BTCUSDT"]')
    assert [s["symbol"] for s in body["symbols"]] == ["ETHBTC", "BTCUSDT"]
    _, body, _ = await rest.get("/api/v3/exchangeInfo", symbolStatus="HALT")
    assert body["symbols"] == []
    _, body, _ = await rest.get("/api/v3/exchangeInfo", permissions="MARGIN")
    assert body["symbols"] == []
    _, body, _ = await rest.get("/api/v3/exchangeInfo", showPermissionSets="false")
    assert all(s["permissionSets"] == [] for s in body["symbols"])


async def test_exchange_info_uses_a_recorded_entry() -> None:
    recorded = {
        "symbol": "BTCUSDT",
        "status": "TRADING",
        "baseAsset": "BTC",
        "quoteAsset": "USDT",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"}
        ],
        "permissionSets": [["SPOT", "MARGIN"]],
    }
    template = {
        "exchangeFilters": [{"filterType": "EXCHANGE_MAX_NUM_ORDERS", "maxNumOrders": 1000}],
        "symbols": [recorded],
    }
    async with _serve(_market(template=template)) as rest:
        _, body, _ = await rest.get("/api/v3/exchangeInfo")
        assert body["symbols"][0] == recorded
        assert body["symbols"][1]["symbol"] == "ETHBTC" and "baseAssetPrecision" in body["symbols"][1]
        assert body["exchangeFilters"] == template["exchangeFilters"]
        _, body, _ = await rest.get("/api/v3/exchangeInfo", permissions="MARGIN")
        assert [s["symbol"] for s in body["symbols"]] == ["BTCUSDT"]
        _, body, _ = await rest.get("/api/v3/exchangeInfo", showPermissionSets="false")
        assert recorded["permissionSets"] == [["SPOT", "MARGIN"]]  # the template is not modified


async def test_binance_sdk_models_accept_the_answers(rest: Rest) -> None:
    models = pytest.importorskip("binance_sdk_spot.rest_api.models")
    _, info, _ = await rest.get("/api/v3/exchangeInfo")
    parsed = models.ExchangeInfoResponse.from_dict(info)
    assert [s.symbol for s in parsed.symbols] == ["BTCUSDT", "ETHBTC"]
    assert parsed.rate_limits[0].limit == 6000
    _, depth, _ = await rest.get("/api/v3/depth", symbol="BTCUSDT", limit=5)
    assert models.DepthResponse.from_dict(depth).last_update_id == 1027024
    _, aggs, _ = await rest.get("/api/v3/aggTrades", symbol="BTCUSDT", limit=2)
    assert [models.AggTradesResponseInner.from_dict(t).a for t in aggs] == [528, 529]
    _, trades, _ = await rest.get("/api/v3/trades", symbol="BTCUSDT", limit=2)
    assert [models.GetTradesResponseInner.from_dict(t).quote_qty for t in trades] == ["48.00001200"] * 2
