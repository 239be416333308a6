"""Local HTTP APIs kept local: loopback ``Host`` and a JSON body type on mutating requests, a bounded
header-read time, and JSON answers to requests the HTTP parser refuses.

A web page in the user's browser can send "simple" cross-site requests (``text/plain`` POSTs) to any
loopback port, and with DNS rebinding it can do so under a foreign host name. :func:`loopback_guard`
refuses a mutating request (POST, PUT, PATCH, DELETE) whose ``Host`` is not a loopback name (403) or whose
``Content-Type`` is not ``application/json`` (415): a browser cannot send a cross-site JSON request without
a CORS preflight, which these servers never answer. :func:`origin_allowed` is the same rule for a WebSocket
upgrade (browsers always send ``Origin``; other clients send none or their own loopback URL).

:func:`start_site` serves an application with a header-read timeout (aiohttp's keep-alive timer, which
also runs from the moment a connection is accepted: a connection that has not completed a request's
headers within the time is closed) and with JSON bodies for the parser's own refusals (an over-long
request line or header) instead of aiohttp's plain text.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from tickstorm.ports import listening

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HEADER_READ_TIMEOUT_S = 20.0
"""Default time a connection may take to send a complete request head (and may stay idle between requests).
Above aiohttp's client keep-alive (15 s), so a client never reuses a connection the server is closing."""

ErrorBody = Callable[[int, str], bytes]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_json(status: int, message: str) -> bytes:
    """``{"error": message}``: the error body of tickstorm's own APIs."""
    return orjson.dumps({"error": message})


def is_loopback_name(host: str) -> bool:
    """Whether a host (no port) is a loopback address or ``localhost``."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_loopback
    except ValueError:
        return False


def host_of(hostport: str) -> str:
    """The host part of a ``Host`` header value (``[::1]:80`` -> ``[::1]``; ``::1`` stays whole)."""
    value = hostport.strip()
    if value.startswith("["):
        end = value.find("]")
        return value if end < 0 else value[: end + 1]
    if value.count(":") == 1:
        return value.partition(":")[0]
    return value


def is_loopback_host_header(value: str | None) -> bool:
    """Whether a ``Host`` header names this machine over loopback (any port)."""
    return bool(value) and is_loopback_name(host_of(value or ""))


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        return False
    return True


def origin_allowed(origin: str | None, host: str | None = None) -> bool:
    """Whether a WebSocket upgrade's ``Origin`` may connect: none (not a browser), a loopback origin, or
    the request's own ``Host`` when that is an IP address (clients such as websocket-client send their
    URL as the origin; a page that could send it was served by this very address, and DNS rebinding needs
    a name, never an IP literal)."""
    if origin is None:
        return True
    scheme, sep, rest = origin.strip().partition("://")
    if not sep or not scheme:
        return False
    origin_host = rest.split("/", 1)[0].lower()
    if is_loopback_name(host_of(origin_host)):
        return True
    own = (host or "").strip().lower()
    return bool(own) and origin_host == own and _is_ip_literal(host_of(own))


def refusal(request: BaseRequest) -> tuple[int, str] | None:
    """Why a request must be refused (status, message), or None."""
    if request.method not in MUTATING:
        return None
    host = request.headers.get("Host")
    if not is_loopback_host_header(host):
        return 403, f"refused: Host {host!r} is not a loopback address (127.0.0.1, ::1 or localhost)"
    if request.content_type != "application/json":
        given = request.headers.get("Content-Type")
        return 415, f"{request.method} needs Content-Type: application/json (got {given!r})"
    return None


def loopback_guard(error_body: ErrorBody = error_json) -> Any:
    """An aiohttp middleware applying :func:`refusal` (answers in ``error_body``'s JSON shape)."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = refusal(request)
        if refused is not None:
            status, message = refused
            return web.Response(
                body=error_body(status, message), status=status, content_type="application/json"
            )
        return await handler(request)

    return guard


class _JsonErrorHandler(RequestHandler):
    """aiohttp's connection handler, answering the parser's refusals in JSON."""

    error_body: ErrorBody = staticmethod(error_json)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; raises if a response already started
        text = message if status != 500 and message else "internal server error"
        resp = web.Response(
            body=self.error_body(status, text), status=status, content_type="application/json"
        )
        resp.force_close()
        return resp


class _JsonErrorServer(web.Server):
    error_body: ErrorBody = staticmethod(error_json)

    def __call__(self) -> RequestHandler:
        handler = _JsonErrorHandler(self, loop=self._loop, **self._kwargs)
        handler.error_body = self.error_body
        return handler


class GuardedAppRunner(web.AppRunner):
    """An AppRunner whose connections time out reading headers and answer parser errors in JSON."""

    __slots__ = ("_error_body",)

    def __init__(
        self,
        app: web.Application,
        *,
        header_timeout_s: float = HEADER_READ_TIMEOUT_S,
        error_body: ErrorBody = error_json,
        **kwargs: Any,
    ) -> None:
        if not header_timeout_s > 0:
            raise ValueError(f"header_timeout_s must be positive, got {header_timeout_s!r}")
        super().__init__(app, keepalive_timeout=header_timeout_s, **kwargs)
        self._error_body = error_body

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # same layout; only the handler factory differs
        server.error_body = self._error_body  # type: ignore[attr-defined]
        return server


async def start_site(
    app: web.Application,
    host: str,
    port: int,
    *,
    header_timeout_s: float = HEADER_READ_TIMEOUT_S,
    error_body: ErrorBody = error_json,
    what: str = "HTTP server",
    **site_options: Any,
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on host:port (0 = a free port): the runner (``cleanup()`` it) and the bound port.

    A port that cannot be bound is a :class:`tickstorm.ports.ListenError` naming ``what``.
    """
    runner = GuardedAppRunner(
        app, header_timeout_s=header_timeout_s, error_body=error_body, access_log=None, handle_signals=False
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, **site_options)
    try:
        with listening(what, host, port):
            await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    sockets = getattr(site._server, "sockets", None)
    if not sockets:
        await runner.cleanup()
        raise OSError(f"could not bind {host}:{port}")
    return runner, int(sockets[0].getsockname()[1])
