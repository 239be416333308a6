"""A feed with its downstream side: ``async with ServedFeed(feed, options) as served`` runs the feed, the
WebSocket server and the HTTP API together, and stops them in reverse order."""

from __future__ import annotations

import time
from typing import Any

from feed.binance_spot.feed import BinanceSpotFeed
from feed.downstream.http_api import HttpApi, build_http_app
from feed.downstream.metrics import DownstreamMetrics
from feed.downstream.server import DownstreamOptions, DownstreamServer


class ServedFeed:
    """A :class:`BinanceSpotFeed` plus its downstream WebSocket server and HTTP API."""

    def __init__(self, feed: BinanceSpotFeed, options: DownstreamOptions) -> None:
        self.feed = feed
        self.options = options
        self.metrics = DownstreamMetrics(feed.metrics.registry)
        self.server = DownstreamServer(
            feed, options, metrics=self.metrics, symbols=self.symbols, book_stream=self._book_stream
        )
        self.http: HttpApi | None = None
        self.started_at = time.time()

    def symbols(self) -> frozenset[str]:
        """The symbols the feed ingests (lower case)."""
        return frozenset(name.partition("@")[0] for name in self.feed.core.streams)

    def _book_stream(self, symbol: str) -> str | None:
        state = self.feed.core.books.get(symbol.upper())
        return state.stream if state is not None else None

    def book(self, symbol: str, depth: int | None = None) -> dict[str, Any] | None:
        """The feed's in-sync book of ``symbol`` as a JSON-ready snapshot, or None."""
        book = self.feed.book(symbol)
        if book is None:
            return None
        bids, asks = book.top(depth)
        band = self.feed.book_band(symbol)
        return {
            "symbol": symbol.upper(),
            "stream": self._book_stream(symbol),
            "id": book.last_update_id,
            "bids": bids,
            "asks": asks,
            "band": list(band) if band else None,
        }

    def health(self) -> list[str]:
        """What is wrong right now ([] when healthy)."""
        problems = []
        if not self.feed.pool.connections:
            problems.append("no venue connection")
        unsynced = sorted(sym for sym, state in self.feed.core.books.items() if not state.sync.synced)
        if unsynced:
            problems.append(f"books not in sync: {', '.join(unsynced)}")
        stale = sorted(self.feed.core.staleness.stale())
        if stale:
            problems.append(f"stale streams: {', '.join(stale)}")
        return problems

    def stats(self) -> dict[str, Any]:
        """Feed and downstream counters."""
        return {
            "uptime_s": round(time.time() - self.started_at, 3),
            "feed": self.feed.stats(),
            "downstream": self.server.stats(),
        }

    def urls(self) -> dict[str, str | None]:
        """Where the downstream side listens (for the ready line)."""
        http = self.http.url if self.http is not None else None
        return {
            "downstream_ws": self.server.url,
            "downstream_http": http,
            "downstream_metrics": f"{http}/metrics" if http else None,
        }

    async def __aenter__(self) -> ServedFeed:
        await self.feed.start()
        try:
            self.feed.on_event(self.server.hub.on_event)
            await self.server.start()
            if self.options.http_port is not None:
                app = build_http_app(
                    health=self.health,
                    book=self.book,
                    symbols=self.symbols,
                    metrics=self.feed.metrics.render,
                    stats=self.stats,
                )
                self.http = HttpApi(app, self.options.host, self.options.http_port)
                await self.http.start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the HTTP API, the WebSocket server, then the feed."""
        if self.http is not None:
            await self.http.stop()
            self.http = None
        await self.server.stop()
        await self.feed.stop()
