"""The downstream HTTP API (aiohttp, loopback by default): health, book snapshots, metrics, stats.

Routes::

    GET /health              200 {"status": "ok", ...} or 503 {"status": "degraded", "problems": [...]}
    GET /book/{instrument}   the feed's book: {"instrument", "stream", "id", "bids", "asks", "band"}
                             (an instrument id, or a symbol that names exactly one instrument)
                             ?depth=N limits the levels per side; 404 unknown, 503 not in sync
    GET /metrics             the feed's Prometheus exposition (feed and downstream families)
    GET /stats               feed and downstream counters as JSON
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from feed.downstream.protocol import resolve_instrument
from tickstorm.ports import listening

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

    app = web.Application()
    app.router.add_get("/health", health_route)
    app.router.add_get("/book/{instrument}", book_route)
    app.router.add_get("/metrics", metrics_route)
    app.router.add_get("/stats", stats_route)
    return app


class HttpApi:
    """Serves an application on host:port (0 = any free port)."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        with listening("downstream HTTP API", self.host, self.port):
            await site.start()
        sockets = getattr(site._server, "sockets", None)
        assert sockets, "the HTTP API did not bind"
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
