"""A feed with its downstream side: ``async with ServedFeed(feed, options) as served`` runs the feed, the
WebSocket server and the HTTP API together, and stops them in reverse order."""

from __future__ import annotations

import time
from typing import Any

from feed.downstream.http_api import HttpApi, build_http_app
from feed.downstream.metrics import DownstreamMetrics
from feed.downstream.server import DownstreamOptions, DownstreamServer
from feed.feed import Feed


class ServedFeed:
    """A :class:`~feed.feed.Feed` plus its downstream WebSocket server and HTTP API."""

    def __init__(self, feed: Feed, options: DownstreamOptions) -> None:
        self.feed = feed
        self.options = options
        self.metrics = DownstreamMetrics(feed.metrics.registry)
        self.server = DownstreamServer(feed, options, metrics=self.metrics, instruments=self.instruments)
        self.http: HttpApi | None = None
        self.started_at = time.time()

    def instruments(self) -> frozenset[str]:
        """The instruments the feed ingests."""
        return frozenset(self.feed.instruments())

    def book(self, instrument: str, depth: int | None = None) -> dict[str, Any] | None:
        """The feed's in-sync book of ``instrument`` as a JSON-ready snapshot, or None."""
        book = self.feed.book(instrument, depth)
        if book is None:
            return None
        return {"instrument": instrument, "stream": self.feed.book_stream(instrument), **book.body()}

    def health(self) -> list[str]:
        """What is wrong right now ([] when healthy), per venue."""
        problems = []
        for name, venue in self.feed.venues.items():
            if not any(c.connected for c in venue.pool.connections):
                problems.append(f"{name}: no venue connection")
            books = venue.engine.books.values()
            unsynced = sorted(b.instrument for b in books if not b.sync.synced)
            if unsynced:
                problems.append(f"{name}: books not in sync: {', '.join(unsynced)}")
            stale = sorted(venue.engine.staleness.stale())
            if stale:
                problems.append(f"{name}: stale streams: {', '.join(stale)}")
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
        # The listeners first: a port in use is refused before the feed connects to any venue.
        try:
            self.feed.on_event(self.server.hub.on_event)
            await self.server.start()
            if self.options.http_port is not None:
                app = build_http_app(
                    health=self.health,
                    book=self.book,
                    instruments=self.instruments,
                    metrics=self.feed.metrics.render,
                    stats=self.stats,
                )
                self.http = HttpApi(app, self.options.host, self.options.http_port)
                await self.http.start()
            await self.feed.start()
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
