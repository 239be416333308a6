"""Thin Binance spot REST client for the feed: depth snapshots and trade backfill, inside the weight budget.

Every request waits for the feed's own :class:`~feed.limits.WeightBudget`, adopts the venue's
``X-MBX-USED-WEIGHT-1M`` figure, and on 429/418 stops all REST traffic until ``Retry-After`` has passed.
:class:`RestClient` is the Binance spot adapter's :class:`feed.adapter.Recovery`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson

from feed.adapter import Market, RecoveryError, StreamSpec, WindowFill
from feed.binance_spot import codec
from feed.limits import WeightBudget

DEPTH_WEIGHTS = ((100, 5), (500, 25), (1000, 50), (5000, 250))
AGG_TRADES_WEIGHT = 4
HISTORICAL_TRADES_WEIGHT = 25
PAGE = 1000


class RestError(RecoveryError):
    """A REST request failed (status, Binance code and message when the venue sent them)."""

    def __init__(self, message: str, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message, status)
        self.code = code


def depth_weight(limit: int) -> int:
    """Binance's request weight of ``/api/v3/depth`` for ``limit`` (1..5000; since 2023-10-19)."""
    if limit < 1:
        raise ValueError(f"depth limit must be >= 1, got {limit!r}")
    for upper, weight in DEPTH_WEIGHTS:
        if limit <= upper:
            return weight
    raise ValueError(f"depth limit {limit} is above 5000")


class RestClient:
    """REST calls the feed makes, sharing one session and one weight budget."""

    def __init__(
        self,
        base_url: str,
        budget: WeightBudget,
        *,
        timeout_s: float = 10.0,
        snapshot_limit: int = 1000,
        max_pages: int = 20,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.snapshot_limit = snapshot_limit
        self.max_pages = max_pages
        self.weight_used = 0
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0
        self.throttled = 0  # 429/418 answers

    async def start(self) -> None:
        """Open the HTTP session."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, json_serialize=lambda o: orjson.dumps(o).decode()
            )

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, path: str, params: dict[str, Any], weight: int) -> Any:
        """GET ``path`` once the budget allows ``weight``; the parsed JSON body or :class:`RestError`."""
        if self._session is None:
            await self.start()
        assert self._session is not None
        while (wait := self.budget.wait_s(weight, time.monotonic())) > 0:
            await asyncio.sleep(wait)
        self.budget.spend(weight, time.monotonic())
        self.requests += 1
        self.weight_used += weight
        try:
            async with self._session.get(self.base_url + path, params=params) as resp:
                body = await resp.read()
                used = resp.headers.get("X-MBX-USED-WEIGHT-1M")
                if used is not None and used.isdigit():
                    self.budget.observe_used(int(used), time.monotonic())
                if resp.status in (418, 429):
                    self.throttled += 1
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
                    self.budget.block_until(time.monotonic() + retry_after)
                    raise RestError(
                        f"{path}: HTTP {resp.status}, retry after {retry_after:g} s", resp.status, _code(body)
                    )
                if resp.status != 200:
                    raise RestError(f"{path}: HTTP {resp.status} {body[:200]!r}", resp.status, _code(body))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RestError(f"{path}: {type(exc).__name__}: {exc}") from exc
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise RestError(f"{path}: response is not JSON ({exc})", 200) from exc

    # -- feed.adapter.Recovery ---------------------------------------------------------------------------

    async def snapshot(self, spec: StreamSpec) -> Any:
        """The depth snapshot of ``spec``'s symbol (``snapshot_limit`` levels)."""
        return await self.depth(spec.symbol, self.snapshot_limit)

    async def backfill(self, spec: StreamSpec, first_id: int, last_id: int) -> list[Market]:
        """Trades or aggregate trades ``first_id``..``last_id`` of ``spec``'s symbol."""
        items: list[tuple[int, codec.Trade]] | list[tuple[int, codec.AggTrade]]
        try:
            if spec.kind == "aggTrade":
                items = await self.agg_trades(spec.symbol, first_id, last_id, self.max_pages)
            else:
                items = await self.historical_trades(spec.symbol, first_id, last_id, self.max_pages)
        except (KeyError, TypeError, ValueError) as exc:
            raise RestError(
                f"backfill of {spec.name}: malformed answer ({type(exc).__name__}: {exc})"
            ) from exc
        return [codec.to_market(spec.name, item) for _, item in items]

    async def window(self, spec: StreamSpec, from_ns: int, to_ns: int) -> WindowFill:
        """Binance streams carry ids (no TIME continuity): never asked."""
        raise RestError(f"{spec.name}: Binance spot recovers by id, not by time window")

    async def instruments(self) -> set[str] | None:
        """The symbols of ``/api/v3/exchangeInfo`` (weight 20)."""
        body = await self.get("/api/v3/exchangeInfo", {}, 20)
        symbols = body.get("symbols") if isinstance(body, dict) else None
        if not isinstance(symbols, list):
            raise RestError("/api/v3/exchangeInfo: no symbols list")
        return {str(entry.get("symbol", "")).upper() for entry in symbols if isinstance(entry, dict)}

    async def latest_id(self, spec: StreamSpec) -> int | None:
        """The newest trade (``/api/v3/trades``), aggregate trade (``/api/v3/aggTrades``) or book update
        (``lastUpdateId`` of the smallest ``/api/v3/depth``) id; None for other kinds or an empty answer."""
        try:
            if spec.kind == "trade":
                page = await self.get("/api/v3/trades", {"symbol": spec.symbol, "limit": "1"}, 25)
                return int(page[-1]["id"]) if isinstance(page, list) and page else None
            if spec.kind == "aggTrade":
                page = await self.get("/api/v3/aggTrades", {"symbol": spec.symbol, "limit": "1"}, 4)
                return int(page[-1]["a"]) if isinstance(page, list) and page else None
            if spec.book:
                body = await self.depth(spec.symbol, 5)
                return int(body["lastUpdateId"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RestError(
                f"latest id of {spec.name}: malformed answer ({type(exc).__name__}: {exc})"
            ) from exc
        return None

    # -- endpoints -------------------------------------------------------------------------------------

    async def depth(self, symbol: str, limit: int) -> dict[str, Any]:
        """``/api/v3/depth`` snapshot."""
        body = await self.get("/api/v3/depth", {"symbol": symbol, "limit": str(limit)}, depth_weight(limit))
        if not isinstance(body, dict):
            raise RestError("/api/v3/depth: expected an object")
        return body

    async def agg_trades(
        self, symbol: str, from_id: int, last_id: int, max_pages: int
    ) -> list[tuple[int, codec.AggTrade]]:
        """Aggregate trades ``from_id``..``last_id`` (``fromId`` paging), as stream-shaped structs."""
        items = await self._paged(
            "/api/v3/aggTrades", AGG_TRADES_WEIGHT, "a", symbol, from_id, last_id, max_pages
        )
        return [
            (item["a"], codec.AggTrade(
                E=item["T"], s=symbol, a=item["a"], p=item["p"], q=item["q"], f=item["f"], l=item["l"],
                T=item["T"], m=item["m"], M=item.get("M", True),
            ))
            for item in items
        ]  # fmt: skip

    async def historical_trades(
        self, symbol: str, from_id: int, last_id: int, max_pages: int
    ) -> list[tuple[int, codec.Trade]]:
        """Trades ``from_id``..``last_id`` from ``/api/v3/historicalTrades``, as stream-shaped structs."""
        items = await self._paged(
            "/api/v3/historicalTrades", HISTORICAL_TRADES_WEIGHT, "id", symbol, from_id, last_id, max_pages
        )
        return [
            (item["id"], codec.Trade(
                E=item["time"], s=symbol, t=item["id"], p=item["price"], q=item["qty"], T=item["time"],
                m=item["isBuyerMaker"], M=item.get("isBestMatch", True),
            ))
            for item in items
        ]  # fmt: skip

    async def _paged(
        self, path: str, weight: int, id_key: str, symbol: str, from_id: int, last_id: int, max_pages: int
    ) -> list[dict[str, Any]]:
        """Items ``from_id``..``last_id`` of a ``fromId``-paged endpoint (at most ``max_pages`` pages)."""
        out: list[dict[str, Any]] = []
        cursor = from_id
        for _ in range(max_pages):
            page = await self.get(path, {"symbol": symbol, "fromId": str(cursor), "limit": str(PAGE)}, weight)
            if not isinstance(page, list) or not page:
                break
            out += [item for item in page if item[id_key] <= last_id]
            cursor = page[-1][id_key] + 1
            if cursor > last_id or len(page) < PAGE:
                break
        return out


def _retry_after(value: str | None) -> float:
    try:
        return max(float(value), 1.0) if value is not None else 60.0
    except ValueError:
        return 60.0


def _code(body: bytes) -> int | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    code = doc.get("code") if isinstance(doc, dict) else None
    return code if isinstance(code, int) else None
