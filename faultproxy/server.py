"""The embedded Toxiproxy-compatible server: ``async with EmbeddedToxiproxy() as tp: ... tp.api_url``.

It serves the Toxiproxy v2.12.0 HTTP API on loopback and forwards proxied TCP connections in the same
event loop. Differences from the real server are deliberate and listed in docs/proxy.md: seeded
randomness, loopback-only upstreams unless allowed, 400 instead of a crash for toxic settings that kill the
real server, and /metrics on by default.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from faultproxy import gojson
from faultproxy.api import ToxiproxyApi
from faultproxy.proxy import ApiError, ProxyCollection, ServerContext


class ConfigError(Exception):
    """A configuration (populate) file that cannot be loaded."""


def load_config(path: Path) -> bytes:
    """Read a populate-format config file, checking it is a JSON array of objects."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    try:
        entries = gojson.scan(data)  # read as /populate reads its body (Go's nesting limit, not orjson's)
    except gojson.JSONError as exc:
        raise ConfigError(f"config {path} is not valid JSON: {exc}") from None
    if not gojson.is_array(entries) or not all(gojson.is_object(e) for e in entries):
        raise ConfigError(f"config {path} must be a JSON array of proxy objects (the /populate format)")
    return data


class EmbeddedToxiproxy:
    """A Toxiproxy-compatible server running in the current event loop.

    ``seed`` makes toxicity draws, jitter and slicer cuts reproducible for a given order of events;
    ``allow_remote_upstream`` permits proxies whose upstream is not on this machine; ``proxy_metrics``
    serves /metrics (the real server needs ``-proxy-metrics`` for that); ``config`` is a populate-format
    file or list loaded at start.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        allow_remote_upstream: bool = False,
        *,
        proxy_metrics: bool = True,
        config: Path | list[dict[str, Any]] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.seed = seed
        self.allow_remote_upstream = allow_remote_upstream
        self.proxy_metrics = proxy_metrics
        self.config = config
        self._runner: web.AppRunner | None = None
        self.collection: ProxyCollection | None = None

    @property
    def api_url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:8474``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def ready_line(self) -> dict[str, Any]:
        """The JSON line `tickstorm proxy` prints when it is ready."""
        return {"event": "ready", "api": self.api_url}

    async def __aenter__(self) -> EmbeddedToxiproxy:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind the API and load the config."""
        ctx = ServerContext(asyncio.get_running_loop(), self.seed, self.allow_remote_upstream)
        self.collection = ProxyCollection(ctx)
        api = ToxiproxyApi(self.collection, metrics=self.proxy_metrics)
        runner = web.AppRunner(api.app(), access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True, backlog=1024)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            if sockets:
                self.port = sockets[0].getsockname()[1]
        if self.config is not None:
            try:
                await self.populate(self.config)
            except BaseException:
                await self.stop()
                raise

    async def populate(self, config: Path | list[dict[str, Any]]) -> None:
        """Load proxies as POST /populate does; ConfigError on any failure."""
        assert self.collection is not None
        body = load_config(config) if isinstance(config, Path) else orjson.dumps(config)
        _, error = await self.collection.populate_json(body)
        if error is not None:
            raise ConfigError(f"config rejected: {error.message}")

    async def stop(self) -> None:
        """Stop every proxy and the API."""
        if self.collection is not None:
            await self.collection.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


__all__ = ["ApiError", "ConfigError", "EmbeddedToxiproxy", "load_config"]
