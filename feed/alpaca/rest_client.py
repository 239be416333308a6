"""Thin Alpaca historical REST client for the feed: trade windows and crypto order book snapshots.

Alpaca's stream has no sequence numbers, so the only proof of continuity after a reconnect is to fetch
the trades of the outage by time window (``/v2/stocks/trades``, ``/v1beta3/crypto/us/trades`` with
``symbols``, ``start``, ``end``, ``limit``, paged by ``page_token`` = the previous answer's
``next_page_token``) and let the engine drop what it already delivered. Every request spends one unit of
the feed's request budget (``rest_weight_per_minute``: requests per minute, Alpaca's plan limit); a 429 is
waited out (``Retry-After``, else exponential backoff) within ``rest_retry_budget_s``, after which the
window fails and becomes a gap. Credentials go in the ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY``
headers and nowhere else. :class:`AlpacaRest` is the adapter's :class:`feed.adapter.Recovery`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
from pydantic import SecretStr

from feed.adapter import Market, RecoveryError, StreamSpec, WindowFill
from feed.alpaca.codec import format_rfc3339_ns, market, parse_rfc3339_ns
from feed.alpaca.streams import CRYPTO, STOCKS, endpoint_of
from feed.limits import WeightBudget

PAGE_LIMIT = 10_000  # Alpaca's largest page
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 10.0


class RestError(RecoveryError):
    """A REST request failed (``status`` when the venue answered)."""


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class AlpacaRest:
    """The REST calls the feed makes to Alpaca, sharing one session and one request budget."""

    def __init__(
        self,
        base_url: str,
        budget: WeightBudget,
        *,
        api_key: SecretStr | None,
        api_secret: SecretStr | None,
        timeout_s: float = 10.0,
        max_pages: int = 20,
        retry_budget_s: float = 30.0,
        stock_feed: str = "iex",
        crypto_location: str = "us",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.budget = budget
        self.max_pages = max_pages
        self.retry_budget_s = retry_budget_s
        self.stock_feed = stock_feed
        self.crypto_location = crypto_location
        self._key = api_key
        self._secret = api_secret
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0
        self.throttled = 0  # 429 answers
        self.weight_used = 0  # requests spent from the budget

    async def start(self) -> None:
        """Open the HTTP session."""
        if self._session is None:
            headers = {}
            if self._key is not None and self._secret is not None:
                headers = {
                    "APCA-API-KEY-ID": self._key.get_secret_value(),
                    "APCA-API-SECRET-KEY": self._secret.get_secret_value(),
                }
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=headers)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, path: str, params: dict[str, str]) -> Any:
        """GET ``path`` inside the budget, waiting out 429s within the retry budget; the parsed body."""
        if self._session is None:
            await self.start()
        assert self._session is not None
        started = time.monotonic()
        attempt = 0
        while True:
            while (wait := self.budget.wait_s(1, time.monotonic())) > 0:
                await asyncio.sleep(wait)
            self.budget.spend(1, time.monotonic())
            self.requests += 1
            self.weight_used += 1
            try:
                async with self._session.get(self.base_url + path, params=params) as resp:
                    body = await resp.read()
                    status = resp.status
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise RestError(f"{path}: {type(exc).__name__}: {exc}") from exc
            if status == 429:
                self.throttled += 1
                delay = (
                    retry_after
                    if retry_after is not None
                    else min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)
                )
                attempt += 1
                if time.monotonic() - started + delay > self.retry_budget_s:
                    raise RestError(
                        f"{path}: HTTP 429, retry after {delay:g} s is beyond the retry budget "
                        f"({self.retry_budget_s:g} s)",
                        429,
                    )
                self.budget.block_until(time.monotonic() + delay)
                await asyncio.sleep(delay)
                continue
            if status != 200:
                raise RestError(f"{path}: HTTP {status} {body[:200]!r}", status)
            try:
                return orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise RestError(f"{path}: response is not JSON ({exc})", 200) from exc

    # -- feed.adapter.Recovery ---------------------------------------------------------------------------

    def trades_path(self, spec: StreamSpec) -> str:
        """The historical trades endpoint of ``spec``'s asset class."""
        endpoint = endpoint_of(spec)
        if spec.kind != "trades" or endpoint not in (STOCKS, CRYPTO):
            raise RestError(f"{spec.name}: Alpaca has no REST window for this stream")
        return "/v2/stocks/trades" if endpoint == STOCKS else f"/v1beta3/crypto/{self.crypto_location}/trades"

    async def window(self, spec: StreamSpec, from_ns: int, to_ns: int) -> WindowFill:
        """The trades of ``spec`` between ``from_ns`` and ``to_ns`` (inclusive), page by page up to
        ``max_pages``; an answer cut by the page budget is incomplete (``covered_to_ns``: its last trade)."""
        path = self.trades_path(spec)
        crypto = endpoint_of(spec) == CRYPTO
        params = {
            "symbols": spec.symbol,
            "start": format_rfc3339_ns(from_ns),
            "end": format_rfc3339_ns(to_ns),
            "limit": str(PAGE_LIMIT),
        }
        if not crypto:
            params["feed"] = self.stock_feed
        items: list[Market] = []
        token: str | None = None
        for _ in range(self.max_pages):
            query = dict(params, page_token=token) if token else params
            body = await self.get(path, query)
            try:
                page = self._page(body, spec, crypto)
                token = body.get("next_page_token") or None
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise RestError(f"{path}: malformed answer ({type(exc).__name__}: {exc})"[:300]) from exc
            items.extend(page)
            if token is None:
                return WindowFill(items, complete=True)
        covered = max((m.exchange_ns for m in items if m.exchange_ns is not None), default=from_ns)
        return WindowFill(items, complete=False, covered_to_ns=covered)

    @staticmethod
    def _page(body: Any, spec: StreamSpec, crypto: bool) -> list[Market]:
        trades = body["trades"]
        entries = trades.get(spec.symbol) or [] if isinstance(trades, dict) else []
        out = []
        for entry in entries:
            made = market({**entry, "T": "t", "S": spec.symbol}, crypto=crypto)
            if not isinstance(made, Market):
                raise ValueError(made)
            out.append(made)
        return out

    async def snapshot(self, spec: StreamSpec) -> Any:
        """The latest order book of ``spec``'s crypto pair: ``{"t": ns, "b": [...], "a": [...]}``."""
        path = f"/v1beta3/crypto/{self.crypto_location}/latest/orderbooks"
        body = await self.get(path, {"symbols": spec.symbol})
        try:
            book = body["orderbooks"][spec.symbol]
            return {"t": parse_rfc3339_ns(book["t"]), "b": list(book["b"]), "a": list(book["a"])}
        except (KeyError, TypeError, ValueError) as exc:
            raise RestError(f"{path}: malformed answer ({type(exc).__name__}: {exc})"[:300]) from exc

    async def backfill(self, spec: StreamSpec, first_id: int, last_id: int) -> list[Market]:
        """Alpaca has no id ranges (TIME continuity): never asked."""
        raise RestError(f"{spec.name}: Alpaca recovers by time window, not by id")

    async def instruments(self) -> set[str] | None:
        """No cheap listing across stocks, crypto and options: symbols are not checked."""
        return None

    async def latest_id(self, spec: StreamSpec) -> int | None:
        """Alpaca ids do not step: nothing to check a journal against."""
        return None
