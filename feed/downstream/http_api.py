"""The downstream HTTP API (aiohttp, loopback by default): health, book snapshots, metrics, stats.

Routes::

    GET /health              200 {"status": "ok", ...} or 503 {"status": "degraded", "problems": [...]}
    GET /book/{instrument}   the feed's book: {"instrument", "stream", "id", "bids", "asks", "band"}
                             (an instrument id, or a symbol that names exactly one instrument)
                             ?depth=N limits the levels per side; 404 unknown, 503 not in sync
    GET /metrics             the feed's Prometheus exposition (feed and downstream families)
    GET /stats               feed and downstream counters as JSON

Mutating requests (none today) would need a loopback ``Host`` and ``Content-Type: application/json``
(:func:`tickstorm.http_guard.loopback_guard`); connections must send a request head within the
header-read timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from feed.downstream.protocol import resolve_instrument
from tickstorm.http_guard import HEADER_READ_TIMEOUT_S, loopback_guard, start_site

STATS_KEY = web.AppKey("stats", object)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def build_http_app(
    *,
    health: Callable[[], list[str]],
    book: Callable[[str, int | None], dict[str, Any] | None],
    instruments: Callable[[], frozenset[str]],
    metrics: Callable[[], bytes],
    stats: Callable[[], dict[str, Any]],
) -> web.Application:
    """The application; each callable reads the running feed (no state of its own)."""

    async def health_route(_: web.Request) -> web.Response:
        problems = health()
        if problems:
            return _json({"status": "degraded", "problems": problems}, 503)
        return _json({"status": "ok", "problems": []})

    async def book_route(request: web.Request) -> web.Response:
        given = request.match_info["instrument"]
        instrument = resolve_instrument(given, instruments())
        if instrument is None:
            return _json({"error": f"{given!r} is not one instrument this feed ingests"}, 404)
        depth_text = request.query.get("depth")
        depth: int | None = None
        if depth_text is not None:
            if not depth_text.isdigit() or int(depth_text) < 1:
                return _json({"error": "depth must be a positive integer"}, 400)
            depth = int(depth_text)
        body = book(instrument, depth)
        if body is None:
            return _json({"error": f"the book of {instrument!r} is not in sync (resyncing)"}, 503)
        return _json(body)

    async def metrics_route(_: web.Request) -> web.Response:
        return web.Response(body=metrics(), content_type="text/plain", charset="utf-8")

    async def stats_route(_: web.Request) -> web.Response:
        return _json(stats())

    app = web.Application(middlewares=[loopback_guard()])
    app.router.add_get("/health", health_route)
    app.router.add_get("/book/{instrument}", book_route)
    app.router.add_get("/metrics", metrics_route)
    app.router.add_get("/stats", stats_route)
    return app


class HttpApi:
    """Serves an application on host:port (0 = any free port)."""

    def __init__(
        self, app: web.Application, host: str, port: int, *, header_timeout_s: float = HEADER_READ_TIMEOUT_S
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.header_timeout_s = header_timeout_s
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve."""
        self._runner, self.port = await start_site(
            self.app, self.host, self.port, header_timeout_s=self.header_timeout_s, what="downstream HTTP API"
        )

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
