"""A small fake Alpaca market data venue on 127.0.0.1, written to ../shared/protocols/alpaca.md (not to the
feed's code): WebSocket endpoints with the sheet's session and a historical REST for trades and books.

WebSocket (``/v2/iex``, ``/v1beta3/crypto/us``, ``/v1beta1/indicative``, ``/v1beta1/news``):
``[{"T":"success","msg":"connected"}]`` on connect; ``auth`` answered by ``authenticated`` or an error
(402 wrong credentials, 406 a second session of the key on the endpoint, 409 an endpoint outside the
plan; the socket stays open after an error, as the Go SDK expects); ``subscribe``/``unsubscribe`` before
auth get 401, after it the complete subscription set (stock ``trades`` bring ``corrections`` and
``cancelErrors``). The encoding follows the upgrade request's ``Content-Type``: msgpack (binary frames,
Timestamp extension values) or JSON (text frames, RFC-3339 strings); client frames are read in either.

REST: ``/v2/stocks/trades`` and ``/v1beta3/crypto/us/trades`` (``symbols``, ``start``, ``end``, ``limit``,
``page_token``; answer ``{"trades": {SYM: [...]}, "next_page_token": ...}``), ``/v1beta3/crypto/us/
latest/orderbooks``; ``APCA-API-KEY-ID``/``APCA-API-SECRET-KEY`` headers; injected 429s with
``Retry-After``.

The test drives it: :meth:`publish` sends a message to the subscribed sessions and keeps trades for the
REST; :meth:`drop` closes every session; the counters say how many connections each endpoint ever had at
once (the feed must never hold two).
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import re
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack
import orjson
from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, serve

PATHS = {
    "/v2/iex": "stocks",
    "/v1beta3/crypto/us": "crypto",
    "/v1beta1/indicative": "options",
    "/v1beta1/news": "news",
}
CHANNELS = {
    "stocks": ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds", "corrections",
               "cancelErrors"),
    "crypto": ("trades", "quotes", "bars", "updatedBars", "dailyBars", "orderbooks"),
    "options": ("trades", "quotes"),
    "news": ("news",),
}  # fmt: skip
T_CHANNEL = {"t": "trades", "q": "quotes", "b": "bars", "o": "orderbooks", "n": "news", "c": "corrections",
             "x": "cancelErrors", "s": "statuses", "l": "lulds"}  # fmt: skip


def rfc3339(ns: int) -> str:
    seconds, nanos = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def parse_rfc3339(text: str) -> int:
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z", text)
    if m is None:
        raise ValueError(text)
    year, month, day, hour, minute, second = (int(m[i]) for i in range(1, 7))
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return seconds * 1_000_000_000 + int((m[7] or "").ljust(9, "0"))


@dataclass
class Session:
    ws: ServerConnection
    endpoint: str
    binary: bool
    authenticated: bool = False
    key: str | None = None
    subs: dict[str, set[str]] = field(default_factory=dict)

    async def send(self, messages: list[dict[str, Any]]) -> None:
        with contextlib.suppress(Exception):
            if self.binary:
                out = []
                for m in messages:
                    m = dict(m)
                    for name in ("t", "created_at", "updated_at"):
                        if isinstance(m.get(name), int):
                            m[name] = msgpack.Timestamp.from_unix_nano(m[name])
                    out.append(m)
                await self.ws.send(msgpack.packb(out))
            else:
                out = []
                for m in messages:
                    m = dict(m)
                    for name in ("t", "created_at", "updated_at"):
                        if isinstance(m.get(name), int):
                            m[name] = rfc3339(m[name])
                    out.append(m)
                await self.ws.send(orjson.dumps(out).decode())


@dataclass
class FakeAlpaca:
    key: str = "key-id"
    secret: str = "secret-key"
    denied_endpoints: set[str] = field(default_factory=set)  # 409 at auth
    refuse_logins: list[int] = field(default_factory=list)  # codes answered to the next auths, in order
    page_size: int = 3
    rest_429: int = 0  # the next REST requests answered 429
    retry_after_s: float = 0.1

    def __post_init__(self) -> None:
        self.sessions: list[Session] = []
        self.connections: dict[str, int] = {}  # total connections per endpoint
        self.concurrent: dict[str, int] = {}
        self.max_concurrent: dict[str, int] = {}
        self.auth_attempts: list[tuple[str, int | None]] = []  # (endpoint, error code or None)
        self.trades: dict[str, list[dict[str, Any]]] = {}  # symbol -> trades (t as ns)
        self.books: dict[str, dict[str, Any]] = {}
        self.rest_requests: list[str] = []
        self.rest_throttled = 0
        self._server: Server | None = None
        self._runner: web.AppRunner | None = None
        self.ws_url = ""
        self.rest_url = ""

    # -- lifecycle -------------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeAlpaca:
        self._server = await serve(self._handle, "127.0.0.1", 0, process_request=self._check_path)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.ws_url = f"ws://127.0.0.1:{port}"
        app = web.Application()
        app.router.add_get("/v2/stocks/trades", self._rest_trades)
        app.router.add_get("/v1beta3/crypto/us/trades", self._rest_trades)
        app.router.add_get("/v1beta3/crypto/us/latest/orderbooks", self._rest_books)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        rest_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.rest_url = f"http://127.0.0.1:{rest_port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()

    def _check_path(self, connection: ServerConnection, request: Any) -> Any:
        if request.path not in PATHS:
            return connection.respond(404, "no such endpoint\n")
        return None

    # -- WebSocket session (the sheet's §4) ------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        endpoint = PATHS[ws.request.path]
        binary = "msgpack" in (ws.request.headers.get("Content-Type") or "")
        session = Session(ws, endpoint, binary)
        self.connections[endpoint] = self.connections.get(endpoint, 0) + 1
        self.concurrent[endpoint] = self.concurrent.get(endpoint, 0) + 1
        self.max_concurrent[endpoint] = max(self.max_concurrent.get(endpoint, 0), self.concurrent[endpoint])
        self.sessions.append(session)
        try:
            await session.send([{"T": "success", "msg": "connected"}])
            async for raw in ws:
                try:
                    msg = msgpack.unpackb(raw) if isinstance(raw, bytes) else orjson.loads(raw)
                except Exception:
                    await session.send([{"T": "error", "code": 400, "msg": "invalid syntax"}])
                    continue
                await self._on_message(session, msg)
        except Exception:
            pass
        finally:
            self.concurrent[endpoint] -= 1
            self.sessions.remove(session)

    async def _on_message(self, session: Session, msg: Any) -> None:
        action = msg.get("action") if isinstance(msg, dict) else None
        if action == "auth":
            await self._auth(session, msg)
        elif action in ("subscribe", "unsubscribe"):
            if not session.authenticated:
                await session.send([{"T": "error", "code": 401, "msg": "not authenticated"}])
                return
            for channel, symbols in msg.items():
                if channel == "action":
                    continue
                if channel not in CHANNELS[session.endpoint]:
                    await session.send(
                        [{"T": "error", "code": 410, "msg": "invalid subscribe action for this feed"}]
                    )
                    return
                current = session.subs.setdefault(channel, set())
                if action == "subscribe":
                    current.update(symbols)
                    if channel == "trades" and session.endpoint == "stocks":
                        session.subs.setdefault("corrections", set()).update(symbols)
                        session.subs.setdefault("cancelErrors", set()).update(symbols)
                else:
                    current.difference_update(symbols)
            reply = {
                "T": "subscription",
                **{c: sorted(session.subs.get(c, ())) for c in CHANNELS[session.endpoint]},
            }
            await session.send([reply])
        else:
            await session.send([{"T": "error", "code": 400, "msg": "invalid syntax"}])

    async def _auth(self, session: Session, msg: dict[str, Any]) -> None:
        code: int | None = None
        if session.authenticated:
            code = 403
        elif self.refuse_logins:
            code = self.refuse_logins.pop(0)
        elif msg.get("key") != self.key or msg.get("secret") != self.secret:
            code = 402
        elif session.endpoint in self.denied_endpoints:
            code = 409
        elif any(
            s.authenticated and s.endpoint == session.endpoint and s.key == msg["key"] for s in self.sessions
        ):
            code = 406
        self.auth_attempts.append((session.endpoint, code))
        if code is not None:
            text = {402: "auth failed", 403: "already authenticated", 406: "connection limit exceeded",
                    409: "insufficient subscription"}.get(code, "error")  # fmt: skip
            await session.send([{"T": "error", "code": code, "msg": text}])
            return
        session.authenticated = True
        session.key = msg["key"]
        await session.send([{"T": "success", "msg": "authenticated"}])

    # -- the test's controls ---------------------------------------------------------------------------

    async def publish(self, endpoint: str, message: dict[str, Any]) -> None:
        """Send one data message (``t`` in Unix ns) to the sessions subscribed to it; trades are kept for
        the REST whether or not anyone receives them."""
        if message["T"] == "t":
            self.trades.setdefault(message["S"], []).append(message)
        if message["T"] == "o":
            self.books[message["S"]] = message
        channel = T_CHANNEL[message["T"]]
        symbol = message.get("S", "*")
        for session in list(self.sessions):
            if session.authenticated and session.endpoint == endpoint:
                subscribed = session.subs.get(channel, set())
                if symbol in subscribed or "*" in subscribed:
                    await session.send([message])

    def subscribed(self, endpoint: str, channel: str) -> set[str]:
        return {s for sess in self.sessions if sess.endpoint == endpoint for s in sess.subs.get(channel, ())}

    async def drop(self) -> None:
        """Close every session (the feed must reconnect, log in and subscribe again)."""
        for session in list(self.sessions):
            with contextlib.suppress(Exception):
                await session.ws.close(1011, "dropped by the test")

    # -- REST (the sheet's §11) ------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return (
            request.headers.get("APCA-API-KEY-ID") == self.key
            and request.headers.get("APCA-API-SECRET-KEY") == self.secret
        )

    async def _rest_trades(self, request: web.Request) -> web.Response:
        self.rest_requests.append(str(request.rel_url))
        if not self._authorized(request):
            return web.json_response({"message": "forbidden"}, status=403)
        if self.rest_429 > 0:
            self.rest_429 -= 1
            self.rest_throttled += 1
            return web.json_response(
                {"message": "too many requests"}, status=429, headers={"Retry-After": str(self.retry_after_s)}
            )
        q = request.query
        start, end = parse_rfc3339(q["start"]), parse_rfc3339(q["end"])
        limit = min(int(q.get("limit", "1000")), self.page_size)
        offset = int(q.get("page_token") or 0)
        out: dict[str, list[dict[str, Any]]] = {}
        token = None
        for symbol in q["symbols"].split(","):
            matching = [t for t in self.trades.get(symbol, []) if start <= t["t"] <= end]
            page = matching[offset : offset + limit]
            if offset + limit < len(matching):
                token = str(offset + limit)
            out[symbol] = [{k: (rfc3339(v) if k == "t" else v) for k, v in t.items() if k not in ("T", "S")}
                           for t in page]  # fmt: skip
        return web.json_response({"trades": out, "next_page_token": token})

    async def _rest_books(self, request: web.Request) -> web.Response:
        self.rest_requests.append(str(request.rel_url))
        if not self._authorized(request):
            return web.json_response({"message": "forbidden"}, status=403)
        out = {}
        for symbol in request.query["symbols"].split(","):
            book = self.books.get(symbol)
            if book is not None:
                out[symbol] = {"t": rfc3339(book["t"]), "b": book["b"], "a": book["a"]}
        return web.json_response({"orderbooks": out})


async def wait_for(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true (bounded)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
