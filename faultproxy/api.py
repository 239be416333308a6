"""The Toxiproxy HTTP API (v2.12.0) on aiohttp: routes, status codes, bodies, headers.

One catch-all aiohttp handler does the routing itself so the answers match gorilla/mux as the real
server uses it: unclean paths get a 301 to the cleaned path, a known path with the wrong method gets an
empty 405, an unknown path ``404 page not found``; every routed request gets an
``X-Toxiproxy-Request-Id`` and browsers (``User-Agent: Mozilla/...``) get 403. Error bodies are JSON text
sent as ``text/plain`` with a trailing newline, except /populate's, which are JSON.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import posixpath
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from faultproxy.gojson import encode_string
from faultproxy.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from faultproxy.model import error_json
from faultproxy.proxy import ApiError, ProxyCollection

VERSION = "2.12.0"
JSON = "application/json"
Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]

_XID_ALPHABET = "0123456789abcdefghijklmnopqrstuv"
_xid_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_XID_MACHINE = os.urandom(5)


def request_id() -> str:
    """A 20-character id in the style of the real server's (xid: time, machine, counter; base32hex)."""
    raw = (
        int(time.time()).to_bytes(4, "big")
        + _XID_MACHINE
        + (next(_xid_counter) % (1 << 24)).to_bytes(3, "big")
    )
    number = int.from_bytes(raw, "big")
    chars = [_XID_ALPHABET[(number >> (5 * i)) & 31] for i in range(20)]
    return "".join(reversed(chars))


def json_response(body: str, status: int = 200, content_type: str = JSON) -> web.Response:
    """A JSON body with the real server's content type (no charset parameter)."""
    response = web.Response(status=status, body=body.encode("utf-8"))
    response.headers["Content-Type"] = content_type
    return response


def text_error(body: str, status: int) -> web.Response:
    """Go's ``http.Error``: plain text, nosniff, trailing newline."""
    response = web.Response(status=status, body=(body + "\n").encode("utf-8"))
    response.headers["Content-Type"] = "text/plain; charset=utf-8"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def api_error(exc: ApiError) -> web.Response:
    """An API error object as plain text."""
    return text_error(error_json(exc.message, exc.status), exc.status)


def empty(status: int) -> web.Response:
    """A response without body or content type (204, 405)."""
    response = web.Response(status=status)
    response.headers.pop("Content-Type", None)
    return response


def clean_path(path: str) -> str:
    """mux's cleanPath: Go's ``path.Clean`` keeping a trailing slash."""
    if not path:
        return "/"
    if not path.startswith("/"):
        path = "/" + path
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


class ToxiproxyApi:
    """Request handlers over a :class:`ProxyCollection`."""

    def __init__(self, collection: ProxyCollection, *, metrics: bool = True) -> None:
        self.collection = collection
        self.metrics_enabled = metrics
        self.lock = asyncio.Lock()
        self.routes: list[tuple[tuple[str, ...], dict[str, Handler] | None]] = [
            (("reset",), {"POST": self.reset}),
            (("proxies",), {"GET": self.proxy_index, "POST": self.proxy_create}),
            (("populate",), {"POST": self.populate}),
            (
                ("proxies", "{proxy}"),
                {
                    "GET": self.proxy_show,
                    "POST": self.proxy_update,
                    "PATCH": self.proxy_update,
                    "DELETE": self.proxy_delete,
                },
            ),
            (("proxies", "{proxy}", "toxics"), {"GET": self.toxic_index, "POST": self.toxic_create}),
            (
                ("proxies", "{proxy}", "toxics", "{toxic}"),
                {
                    "GET": self.toxic_show,
                    "POST": self.toxic_update,
                    "PATCH": self.toxic_update,
                    "DELETE": self.toxic_delete,
                },
            ),
            (("version",), {"GET": self.version}),
        ]
        if metrics:
            self.routes.append((("metrics",), None))

    def app(self) -> web.Application:
        """The aiohttp application (bodies up to 64 MiB; Go sets no limit)."""
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    @staticmethod
    def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
        if len(pattern) != len(segments):
            return None
        params: dict[str, str] = {}
        for part, segment in zip(pattern, segments, strict=True):
            if part.startswith("{"):
                if not segment:
                    return None
                params[part[1:-1]] = segment
            elif part != segment:
                return None
        return params

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        """Route one request like gorilla/mux with the real server's middlewares."""
        path = request.path
        cleaned = clean_path(path)
        if cleaned != path:
            redirect = empty(301)
            redirect.headers["Location"] = cleaned + (
                f"?{request.query_string}" if request.query_string else ""
            )
            return redirect
        segments = path[1:].split("/")
        path_matched = False
        response: web.StreamResponse
        for pattern, methods in self.routes:
            params = self._match(pattern, segments)
            if params is None:
                continue
            path_matched = True
            if methods is not None and request.method not in methods:
                continue
            request_id_value = request_id()
            if request.headers.get("User-Agent", "").startswith("Mozilla/"):
                response = text_error("User agent not allowed", 403)
            elif methods is None:
                response = self.metrics()
            else:
                async with self.lock:
                    response = await methods[request.method](request, params)
            response.headers["X-Toxiproxy-Request-Id"] = request_id_value
            return response
        if path_matched:
            return empty(405)
        return text_error("404 page not found", 404)

    # ------------------------------------------------------------------ handlers
    async def version(self, request: web.Request, params: dict[str, str]) -> web.Response:
        return json_response(f'{{"version": "{VERSION}"}}\n', content_type="application/json;charset=utf-8")

    def metrics(self) -> web.Response:
        response = web.Response(body=self.collection.ctx.metrics.render().encode())
        response.headers["Content-Type"] = METRICS_CONTENT_TYPE
        return response

    async def proxy_index(self, request: web.Request, params: dict[str, str]) -> web.Response:
        items = ",".join(f"{encode_string(p.name)}:{p.to_json()}" for p in self.collection.sorted())
        return json_response(f"{{{items}}}")

    async def proxy_create(self, request: web.Request, params: dict[str, str]) -> web.Response:
        body = await request.read()
        try:
            proxy = await self.collection.create_json(body)
        except ApiError as exc:
            return api_error(exc)
        return json_response(proxy.to_json(), 201)

    async def populate(self, request: web.Request, params: dict[str, str]) -> web.Response:
        body = await request.read()
        proxies, error = await self.collection.populate_json(body)
        listed = f"[{','.join(p.to_json() for p in proxies)}]" if proxies else "null"
        if error is None:
            return json_response(f'{{"proxies":{listed}}}', 201)
        head = error_json(error.message, error.status)[:-1]
        return json_response(f'{head},"proxies":{listed}}}', error.status)

    async def proxy_show(self, request: web.Request, params: dict[str, str]) -> web.Response:
        try:
            return json_response(self.collection.get(params["proxy"]).to_json())
        except ApiError as exc:
            return api_error(exc)

    async def proxy_update(self, request: web.Request, params: dict[str, str]) -> web.Response:
        body = await request.read()
        try:
            proxy = await self.collection.update_json(params["proxy"], body)
        except ApiError as exc:
            return api_error(exc)
        return json_response(proxy.to_json())

    async def proxy_delete(self, request: web.Request, params: dict[str, str]) -> web.Response:
        try:
            await self.collection.remove(params["proxy"])
        except ApiError as exc:
            return api_error(exc)
        return empty(204)

    async def reset(self, request: web.Request, params: dict[str, str]) -> web.Response:
        try:
            await self.collection.reset()
        except ApiError as exc:
            return api_error(exc)
        return empty(204)

    async def toxic_index(self, request: web.Request, params: dict[str, str]) -> web.Response:
        try:
            proxy = self.collection.get(params["proxy"])
        except ApiError as exc:
            return api_error(exc)
        return json_response(f"[{','.join(t.to_json() for t in proxy.toxics.array())}]")

    async def toxic_create(self, request: web.Request, params: dict[str, str]) -> web.Response:
        body = await request.read()
        try:
            toxic = self.collection.get(params["proxy"]).toxics.add_json(body)
        except ApiError as exc:
            return api_error(exc)
        return json_response(toxic.to_json())

    async def toxic_show(self, request: web.Request, params: dict[str, str]) -> web.Response:
        try:
            toxic = self.collection.get(params["proxy"]).toxics.find(params["toxic"])
            if toxic is None:
                raise ApiError("toxic not found", 404)
        except ApiError as exc:
            return api_error(exc)
        return json_response(toxic.to_json())

    async def toxic_update(self, request: web.Request, params: dict[str, str]) -> web.Response:
        body = await request.read()
        try:
            toxic = self.collection.get(params["proxy"]).toxics.update_json(params["toxic"], body)
        except ApiError as exc:
            return api_error(exc)
        return json_response(toxic.to_json())

    async def toxic_delete(self, request: web.Request, params: dict[str, str]) -> web.Response:
        try:
            self.collection.get(params["proxy"]).toxics.remove(params["toxic"])
        except ApiError as exc:
            return api_error(exc)
        return empty(204)
