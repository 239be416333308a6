"""Proxies, their toxic collections, and the proxy collection: the server state behind the HTTP API.

Every operation keeps toxiproxy-server v2.12.0's rules and error texts: which checks come first, what is
resolved before comparing addresses, what is stopped and restarted on an update, how /populate keeps or
replaces proxies. Failures are raised as :class:`ApiError` carrying the HTTP status and message.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING, Any

from faultproxy import gojson
from faultproxy.addr import AddrError, bound_address, is_loopback_host, listen_socket, resolve
from faultproxy.link import Connection, Side
from faultproxy.metrics import ProxyMetrics
from faultproxy.model import (
    DIRECTIONS,
    DOWNSTREAM,
    POPULATE_SCHEMA,
    PROXY_SCHEMA,
    TOXIC_TYPES,
    TOXIC_WRAPPER_SCHEMA,
    UPSTREAM,
    Toxic,
    attributes_schema,
    parse_direction,
    proxy_json,
    unsafe_attributes,
    update_schema,
)

if TYPE_CHECKING:
    from faultproxy.link import Link


class ApiError(Exception):
    """An API failure: HTTP status and the message the real server would give."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def bad_body(exc: Exception) -> ApiError:
    """``bad request body: <decoder error>``."""
    return ApiError(f"bad request body: {exc}", 400)


PROXY_NOT_FOUND = ("proxy not found", 404)
PROXY_EXISTS = ("proxy already exists", 409)
INVALID_STREAM = ("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ("invalid toxic type", 400)
TOXIC_EXISTS = ("toxic already exists", 409)
TOXIC_NOT_FOUND = ("toxic not found", 404)


class ServerContext:
    """What every proxy shares: the loop, the random source, metrics and the upstream policy."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, seed: int | None, allow_remote_upstream: bool
    ) -> None:
        self.loop = loop
        self.rng = random.Random(seed)
        self.metrics = ProxyMetrics()
        self.allow_remote_upstream = allow_remote_upstream

    def check_upstream(self, upstream: str) -> None:
        """Refuse non-loopback upstreams unless allowed (a deliberate difference from the real server)."""
        if not self.allow_remote_upstream and not is_loopback_host(upstream):
            raise ApiError(
                f"upstream {upstream!r} is not a loopback address; the embedded toxiproxy only forwards to "
                "this machine unless started with allow_remote_upstream (--allow-remote-upstream)",
                400,
            )


class ToxicCollection:
    """A proxy's two toxic chains and the live links they apply to."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.chains: dict[str, list[Toxic]] = {UPSTREAM: [], DOWNSTREAM: []}
        self.links: set[Link] = set()

    def array(self) -> list[Toxic]:
        """Upstream chain first, then downstream, each in insertion order."""
        return [*self.chains[UPSTREAM], *self.chains[DOWNSTREAM]]

    def find(self, name: str) -> Toxic | None:
        """The toxic called ``name`` in either direction."""
        for toxic in self.array():
            if toxic.name == name:
                return toxic
        return None

    def _links(self, direction: str) -> list[Link]:
        return [link for link in self.links if link.direction == direction]

    def add_json(self, body: bytes) -> Toxic:
        """Create a toxic from a request body (decode → stream → type → name → attributes)."""
        try:
            wrapper = gojson.parse_body(
                body,
                TOXIC_WRAPPER_SCHEMA,
                {"attributes": {}, "name": "", "type": "", "stream": "downstream", "toxicity": 1.0},
            )
        except gojson.JSONError as exc:
            raise bad_body(exc) from None
        direction = parse_direction(wrapper["stream"])
        if direction is None:
            raise ApiError(*INVALID_STREAM)
        name = wrapper["name"] or f"{wrapper['type']}_{wrapper['stream']}"
        toxic_type = TOXIC_TYPES.get(wrapper["type"])
        if toxic_type is None:
            raise ApiError(*INVALID_TOXIC_TYPE)
        if self.find(name) is not None:
            raise ApiError(*TOXIC_EXISTS)
        try:
            attrs = gojson.parse_body(
                body, attributes_schema(toxic_type), {"attributes": toxic_type.defaults()}
            )
        except gojson.JSONError as exc:
            raise bad_body(exc) from None
        attributes = attrs["attributes"] if isinstance(attrs["attributes"], dict) else toxic_type.defaults()
        problem = unsafe_attributes(toxic_type.name, attributes)
        if problem is not None:
            raise ApiError(f"bad request body: {problem}", 400)
        toxic = Toxic(name, toxic_type.name, wrapper["stream"], direction, wrapper["toxicity"], attributes)
        self.chains[direction].append(toxic)
        for link in self._links(direction):
            link.add_toxic(toxic)
        return toxic

    def update_json(self, name: str, body: bytes) -> Toxic:
        """Merge a body's attributes (and toxicity) into a toxic and restart it on every link."""
        toxic = self.find(name)
        if toxic is None:
            raise ApiError(*TOXIC_NOT_FOUND)
        current = {"attributes": dict(toxic.attributes), "toxicity": toxic.toxicity}
        try:
            decoded = gojson.parse_body(body, update_schema(toxic.toxic_type), current)
        except gojson.JSONError as exc:
            raise bad_body(exc) from None
        attributes = (
            decoded["attributes"] if isinstance(decoded["attributes"], dict) else dict(toxic.attributes)
        )
        problem = unsafe_attributes(toxic.type, attributes)
        if problem is not None:
            raise ApiError(f"bad request body: {problem}", 400)
        toxic.attributes = attributes
        toxic.toxicity = decoded["toxicity"]
        for link in self._links(toxic.direction):
            link.update_toxic(toxic)
        return toxic

    def remove(self, name: str) -> None:
        """Delete a toxic (a timeout toxic's removal closes its connections)."""
        toxic = self.find(name)
        if toxic is None:
            raise ApiError(*TOXIC_NOT_FOUND)
        self._remove(toxic)

    def _remove(self, toxic: Toxic) -> None:
        self.chains[toxic.direction].remove(toxic)
        for link in self._links(toxic.direction):
            link.remove_toxic(toxic)

    def reset(self) -> None:
        """Remove every toxic, first to last, upstream chain first."""
        for direction in DIRECTIONS:
            while self.chains[direction]:
                self._remove(self.chains[direction][0])


class Proxy:
    """One proxy: a listener while enabled, its connections, its toxics."""

    def __init__(self, ctx: ServerContext, name: str, listen: str, upstream: str) -> None:
        self.ctx = ctx
        self.loop = ctx.loop
        self.rng = ctx.rng
        self.metrics = ctx.metrics
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics = ToxicCollection(self)
        self.connections: set[Connection] = set()
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        """Listen on ``listen`` (the bound address replaces it); ApiError 500 with Go's text on failure."""
        if self.enabled:
            return
        try:
            sock = await listen_socket(self.listen)
        except AddrError as exc:
            raise ApiError(str(exc), 500) from None
        try:
            self.server = await self.loop.create_server(lambda: Side(proxy=self), sock=sock, backlog=4096)
        except OSError as exc:
            sock.close()
            raise ApiError(str(exc), 500) from None
        self.listen = bound_address(sock)
        self.enabled = True

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        if not self.enabled:
            return
        self.enabled = False
        server, self.server = self.server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()
        for conn in list(self.connections):
            conn.close()
        await asyncio.sleep(0)

    def accepted(self, side: Side) -> None:
        """A client connected: dial the upstream in the background."""
        conn = Connection(self, side)
        self.connections.add(conn)
        conn.task = self.loop.create_task(conn.open())

    async def differs(self, listen: str, upstream: str) -> bool:
        """Whether (resolved) ``listen`` or ``upstream`` differ from the current ones."""
        try:
            resolved = await resolve(listen)
        except AddrError as exc:
            raise ApiError(str(exc), 500) from None
        return self.listen != str(resolved) or self.upstream != upstream

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Apply a proxy update: restart on an address change, then enable or disable."""
        if await self.differs(listen, upstream):
            await self.stop()
            self.listen = listen
            self.upstream = upstream
        if enabled != self.enabled:
            if enabled:
                await self.start()
            else:
                await self.stop()

    def to_json(self) -> str:
        """The proxy object with its toxics."""
        return proxy_json(self.name, self.listen, self.upstream, self.enabled, self.toxics.array())


class ProxyCollection:
    """All proxies by name."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.proxies: dict[str, Proxy] = {}

    def get(self, name: str) -> Proxy:
        """The proxy called ``name``, or 404."""
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError(*PROXY_NOT_FOUND)
        return proxy

    def sorted(self) -> list[Proxy]:
        """Proxies in the order Go prints map keys (byte order of the names)."""
        return [self.proxies[k] for k in sorted(self.proxies, key=lambda n: n.encode("utf-8", "replace"))]

    async def create_json(self, body: bytes) -> Proxy:
        """POST /proxies."""
        try:
            data = gojson.parse_body(
                body,
                PROXY_SCHEMA,
                {"name": "", "listen": "", "upstream": "", "enabled": True, "Logger": None},
            )
        except gojson.JSONError as exc:
            raise bad_body(exc) from None
        if not data["name"]:
            raise ApiError("missing required field: name", 400)
        if not data["upstream"]:
            raise ApiError("missing required field: upstream", 400)
        self.ctx.check_upstream(data["upstream"])
        if data["name"] in self.proxies:
            raise ApiError(*PROXY_EXISTS)
        proxy = Proxy(self.ctx, data["name"], data["listen"], data["upstream"])
        if data["enabled"]:
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy

    async def update_json(self, name: str, body: bytes) -> Proxy:
        """PATCH/POST /proxies/{name}: omitted fields keep their values; the name cannot change."""
        proxy = self.get(name)
        current = {"name": "", "listen": proxy.listen, "upstream": proxy.upstream, "enabled": proxy.enabled}
        current["Logger"] = None
        try:
            data = gojson.parse_body(body, PROXY_SCHEMA, current)
        except gojson.JSONError as exc:
            raise bad_body(exc) from None
        if data["upstream"] != proxy.upstream:
            self.ctx.check_upstream(data["upstream"])
        await proxy.update(data["listen"], data["upstream"], data["enabled"])
        return proxy

    async def remove(self, name: str) -> None:
        """DELETE /proxies/{name}."""
        proxy = self.get(name)
        await proxy.stop()
        del self.proxies[name]

    async def populate_json(self, body: bytes) -> tuple[list[Proxy], ApiError | None]:
        """POST /populate: returns the proxies handled and the error that stopped it, if any."""
        try:
            entries: list[dict[str, Any]] = gojson.parse_body(body, POPULATE_SCHEMA, []) or []
        except gojson.JSONError as exc:
            return [], bad_body(exc)
        for i, entry in enumerate(entries, start=1):
            if not entry["name"]:
                return [], ApiError(f"missing required field: name at proxy {i}", 400)
            if not entry["upstream"]:
                return [], ApiError(f"missing required field: upstream at proxy {i}", 400)
        try:
            for entry in entries:
                self.ctx.check_upstream(entry["upstream"])
        except ApiError as exc:
            return [], exc
        handled: list[Proxy] = []
        for entry in entries:
            enabled = True if entry["enabled"] is None else bool(entry["enabled"])
            proxy = Proxy(self.ctx, entry["name"], entry["listen"], entry["upstream"])
            try:
                handled.append(await self._add_or_replace(proxy, enabled))
            except ApiError as exc:
                return handled, exc
        return handled, None

    async def _add_or_replace(self, proxy: Proxy, enabled: bool) -> Proxy:
        existing = self.proxies.get(proxy.name)
        if existing is not None:
            if not await existing.differs(proxy.listen, proxy.upstream):
                return existing
            await existing.stop()
        if enabled:
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy

    async def reset(self) -> None:
        """POST /reset: enable every proxy and remove all toxics."""
        for proxy in list(self.proxies.values()):
            await proxy.start()
            proxy.toxics.reset()

    async def close(self) -> None:
        """Stop every proxy (server shutdown)."""
        for proxy in list(self.proxies.values()):
            await proxy.stop()
