"""The mock Binance spot venue: WebSocket streams, REST and a control API around one replay timeline.

``async with BinanceSpotVenue(VenueConfig(recordings=[...])) as venue:`` starts everything on loopback and
exposes ``venue.ws_url``, ``venue.rest_url`` and ``venue.control_url``. The same object offers the control
calls in Python (faults, speed, closes) that the control HTTP API offers to other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from mock_venues.binance_spot import streams as stream_names
from mock_venues.binance_spot.book import TrueBook
from mock_venues.binance_spot.control_api import build_control_app
from mock_venues.binance_spot.limits import ConnectionAttemptLimiter, WeightLimiter
from mock_venues.binance_spot.market import MarketState, RestFaults, RestRequestRecord
from mock_venues.binance_spot.publisher import Publisher
from mock_venues.binance_spot.rest import build_rest_app
from mock_venues.binance_spot.session import Session
from mock_venues.binance_spot.trade_store import TradeStore
from mock_venues.faults import FaultBook, FaultRule
from mock_venues.history import VenueHistory
from mock_venues.recordings import recorded_exchange_info
from mock_venues.replay.clock import ReplayClock
from mock_venues.replay.source import ReplaySource

VENUE_NAME = "binance-spot"
# Where a client stream's data comes from when the recording carries another cadence of the same stream.
DEPTH_FALLBACKS = ("@depth@100ms", "@depth@0ms", "@depth")


@dataclass
class VenueConfig:
    """Everything that shapes one venue instance; defaults are Binance's documented values."""

    recordings: list[Path]
    speed: float | None = 1.0  # 0.1..100, None = as fast as possible
    fanout: int = 1
    loop: bool = False
    amplify: float = 1.0
    symbols: list[str] | None = None
    host: str = "127.0.0.1"
    ws_port: int = 0
    rest_port: int = 0
    control_port: int = 0
    autostart: bool = True  # False: replay waits for start() / POST /replay/start
    seed: int | None = None
    rebase_times: bool = True  # event times E/T moved to the intended send time
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0
    max_connection_age_s: float = 24 * 3600.0
    max_age_close_code: int = 1001
    max_streams_per_connection: int = 1024
    max_incoming_per_second: int = 5
    max_connection_attempts: int = 300
    connection_attempt_window_s: float = 300.0
    rest_weight_per_minute: int = 6000
    ban_scale: float = 1.0  # multiplies 418 ban lengths (scenarios compress time)
    refuse_code: int = 2
    refuse_msg: str = "Invalid request: subscription refused"
    extra: dict[str, Any] = field(default_factory=dict)


class HandshakeError(ValueError):
    """A WebSocket upgrade request the venue rejects (bad path or stream)."""


@dataclass(frozen=True)
class Endpoint:
    """What a client asked for in the upgrade URL."""

    combined: bool
    streams: tuple[str, ...]


def parse_endpoint(path: str) -> Endpoint:
    """Map an upgrade path (``/ws``, ``/ws/<s>``, ``/stream``, ``/stream?streams=a/b``) to an endpoint."""
    parts = urlsplit(path)
    query = parse_qs(parts.query)
    unit = query.get("timeUnit", ["MILLISECOND"])[0]
    if unit.upper() != "MILLISECOND":
        raise HandshakeError(f"timeUnit {unit!r} is not supported by the mock (MILLISECOND only)")
    route = parts.path.rstrip("/") or "/"
    if route == "/stream":
        names = [s for s in query.get("streams", [""])[0].split("/") if s]
        combined = True
    elif route == "/ws":
        names, combined = [], False
    elif route.startswith("/ws/"):
        names, combined = [unquote(s) for s in route[4:].split("/") if s], False
    else:
        raise HandshakeError(f"unknown path {parts.path!r}")
    for name in names:
        if stream_names.parse_stream(name) is None:
            raise HandshakeError(f"Invalid request: invalid stream {name!r}")
    return Endpoint(combined, tuple(dict.fromkeys(names)))


class BinanceSpotVenue:
    """A running mock Binance spot venue (async context manager)."""

    def __init__(self, config: VenueConfig) -> None:
        self.config = config
        self.history = VenueHistory()
        # Every message published, once, whoever was subscribed (connection 0): what a feed should have got.
        self.timeline = VenueHistory()
        self.faults = FaultBook(config.seed)
        self.source = ReplaySource(
            config.recordings,
            fanout=config.fanout,
            amplify=config.amplify,
            loop=config.loop,
            symbols=config.symbols,
        )
        self.market = MarketState(
            symbols=self.source.symbols,
            books={s: self._initial_book(s) for s in self.source.symbols},
            trades={s: TradeStore() for s in self.source.symbols},
            weights=WeightLimiter(limit=config.rest_weight_per_minute, ban_scale=config.ban_scale),
            faults=RestFaults(),
            server_time_ms=lambda: time.time_ns() // 1_000_000,
            on_request=self._on_rest_request,
            exchange_info_template=_exchange_info_for(self.source.symbols),
        )
        self.publisher = Publisher(
            self.source,
            ReplayClock(config.speed),
            self.market,
            self.history,
            self.faults,
            rebase_times=config.rebase_times,
            timeline=self.timeline,
        )
        self.publisher.slow_client_closer = self._close_slow_client
        self._replay_streams = set(self.source.streams)
        self._attempts = ConnectionAttemptLimiter(
            limit=config.max_connection_attempts, window_ns=int(config.connection_attempt_window_s * 1e9)
        )
        self.sessions: dict[int, Session] = {}
        self._session_ids = itertools.count(1)
        self._ws_server: Server | None = None
        self._runners: list[web.AppRunner] = []
        self._replay_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self.ws_url = self.rest_url = self.control_url = ""

    def _initial_book(self, symbol: str) -> TrueBook:
        book = TrueBook(symbol)
        snap = self.source.initial_snapshot(symbol)
        if snap is not None:
            book.load_snapshot(snap["lastUpdateId"], snap["bids"], snap["asks"])
        return book

    # -- lifecycle -----------------------------------------------------------------------------------

    async def __aenter__(self) -> BinanceSpotVenue:
        await self.start_servers()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start_servers(self) -> None:
        """Bind the WebSocket, REST and control servers; start the replay unless autostart is off."""
        cfg = self.config
        self._ws_server = await serve(
            self._handle,
            cfg.host,
            cfg.ws_port,
            process_request=self._process_request,
            ping_interval=cfg.ping_interval_s,
            ping_timeout=cfg.pong_timeout_s,
            compression=None,
            max_size=2**16,
            server_header=None,
        )
        ws_port = self._ws_server.sockets[0].getsockname()[1]
        self.ws_url = f"ws://{_host_for_url(cfg.host)}:{ws_port}"
        self.rest_url = await self._start_app(build_rest_app(self.market), cfg.rest_port)
        self.control_url = await self._start_app(build_control_app(self), cfg.control_port)
        self._replay_task = asyncio.create_task(self.publisher.run(), name="venue-replay")
        if cfg.autostart:
            self.start_replay()

    async def _start_app(self, app: web.Application, port: int) -> str:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, port, reuse_address=True)
        await site.start()
        self._runners.append(runner)
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return f"http://{_host_for_url(self.config.host)}:{bound}"

    async def stop(self) -> None:
        """Close every connection and server; cancel the replay and background jobs."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._replay_task is not None:
            self._replay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replay_task
            self._replay_task = None
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()
            self._ws_server = None
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    def start_replay(self) -> None:
        """Begin the replay (when built with ``autostart=False``)."""
        self.history.record_event(time.monotonic_ns(), "replay_start")
        self.publisher.start()

    async def wait_replay_done(self, timeout: float | None = None) -> None:
        """Wait until the timeline has been fully replayed."""
        await asyncio.wait_for(self.publisher.done.wait(), timeout)

    # -- WebSocket handshake and connections -------------------------------------------------------

    def replay_stream_for(self, client_stream: str) -> str | None:
        """The replay stream that feeds a client stream name, or None if nothing recorded feeds it."""
        if client_stream in self._replay_streams:
            return client_stream
        parsed = stream_names.parse_stream(client_stream)
        if parsed is None:
            return None
        if parsed.kind == "depth":
            symbol = client_stream.split("@", 1)[0]
            for suffix in DEPTH_FALLBACKS:
                if symbol + suffix in self._replay_streams:
                    return symbol + suffix
        return None

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        now = time.monotonic_ns()
        peer = conn.remote_address[0] if conn.remote_address else "?"
        if not self._attempts.hit(peer, now):
            self.history.record_event(now, "connection_refused", peer=peer, reason="attempt limit")
            return _json_response(HTTPStatus.TOO_MANY_REQUESTS, -1003, "Too many connection attempts")
        try:
            parse_endpoint(request.path)
        except HandshakeError as exc:
            status = HTTPStatus.NOT_FOUND if "unknown path" in str(exc) else HTTPStatus.BAD_REQUEST
            return _json_response(status, 2 if status == HTTPStatus.BAD_REQUEST else -1, str(exc))
        if len(parse_endpoint(request.path).streams) > self.config.max_streams_per_connection:
            limit = self.config.max_streams_per_connection
            return _json_response(
                HTTPStatus.BAD_REQUEST, 2, f"Invalid request: too many streams (max {limit})"
            )
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        endpoint = parse_endpoint(conn.request.path)
        session = Session(self, conn, next(self._session_ids), endpoint.combined)
        self.sessions[session.id] = session
        self.history.record_event(
            time.monotonic_ns(),
            "connect",
            connection=session.id,
            path=conn.request.path,
            streams=list(endpoint.streams),
        )
        for name in endpoint.streams:
            session.subscribe(name)
        try:
            await session.serve()
        finally:
            self.sessions.pop(session.id, None)
            code = conn.close_code
            self.history.record_event(time.monotonic_ns(), "disconnect", connection=session.id, code=code)

    async def close_session(self, session: Session, code: int, reason: str) -> None:
        """Close one client connection with a close code."""
        self.publisher.remove_session(session)
        await session.conn.close(code, reason)

    def _close_slow_client(self, session: Session) -> None:
        self.history.record_event(time.monotonic_ns(), "slow_client_closed", connection=session.id)
        self.spawn(self.close_session(session, 1008, "Slow consumer"))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a background job owned by the venue (kept referenced until it ends, cancelled on stop)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- control calls (the control API maps onto these) -------------------------------------------

    def add_fault(self, kind: str, **params: Any) -> FaultRule:
        """Add a per-message fault rule (see :mod:`mock_venues.faults`); recorded in the history."""
        now = time.monotonic_ns()
        rule = self.faults.add(kind, now_ns=now, **params)
        self.history.record_event(now, "fault", **rule.describe())
        return rule

    def remove_fault(self, rule_id: int) -> bool:
        """Remove one fault rule."""
        removed = self.faults.remove(rule_id)
        if removed:
            self.history.record_event(time.monotonic_ns(), "fault_removed", id=rule_id)
        return removed

    def clear_faults(self) -> None:
        """Remove every message fault rule and the REST fault."""
        self.faults.clear()
        self.market.faults = RestFaults()
        self.history.record_event(time.monotonic_ns(), "faults_cleared")

    async def close_connections(
        self, code: int = 1000, reason: str = "", connection: int | None = None, shutdown_event: bool = False
    ) -> list[int]:
        """Close every connection (or one) with ``code``; optionally send ``serverShutdown`` first."""
        targets = [s for s in self.sessions.values() if connection is None or s.id == connection]
        self.history.record_event(
            time.monotonic_ns(),
            "close_connections",
            code=code,
            reason=reason,
            connections=[s.id for s in targets],
            shutdown_event=shutdown_event,
        )
        for session in targets:
            if shutdown_event and session.open:
                body = b'{"e":"serverShutdown","E":%d}' % (time.time_ns() // 1_000_000)
                frame = b'{"stream":"!serverShutdown","data":' + body + b"}" if session.combined else body
                with contextlib.suppress(Exception):
                    await session.send_now(frame)
        await asyncio.gather(*(self.close_session(s, code, reason) for s in targets), return_exceptions=True)
        return [s.id for s in targets]

    def set_speed(self, speed: float | None) -> None:
        """Change the replay speed live."""
        self.publisher.set_speed(speed)
        self.history.record_event(time.monotonic_ns(), "speed", speed=speed)

    def stall(self, duration_s: float) -> None:
        """Stall the sender for ``duration_s`` seconds (the schedule keeps running)."""
        if duration_s <= 0:
            raise ValueError("duration_s must be positive")
        self.publisher.stall(duration_s)
        self.history.record_event(time.monotonic_ns(), "stall", duration_s=duration_s)

    def insert_gap(self, symbol: str, skip: int = 1) -> None:
        """Make ``symbol``'s depth update ids jump by ``skip`` (a sequence gap a feed must detect)."""
        symbol = symbol.upper()
        if symbol not in self.market.books:
            raise ValueError(f"unknown symbol {symbol!r}")
        if skip < 1:
            raise ValueError("skip must be >= 1")
        self.publisher.insert_gap(symbol, skip)
        self.history.record_event(time.monotonic_ns(), "gap", symbol=symbol, skip=skip)

    def set_rest_fault(self, faults: RestFaults) -> None:
        """Answer REST requests with an error status and/or slowly (see :class:`RestFaults`)."""
        self.market.faults = faults
        self.history.record_event(time.monotonic_ns(), "rest_fault", **_rest_fault_detail(faults))

    def true_book(self, symbol: str, limit: int = 5000) -> dict[str, Any]:
        """The venue's true order book of ``symbol`` right now."""
        book = self.market.books.get(symbol.upper())
        if book is None:
            raise KeyError(symbol)
        return book.snapshot(limit)

    def state(self) -> dict[str, Any]:
        """A JSON-able summary: urls, speed, replay progress, connections and their subscriptions."""
        return {
            "venue": VENUE_NAME,
            "ws": self.ws_url,
            "rest": self.rest_url,
            "control": self.control_url,
            "speed": self.publisher.clock.speed,
            "published": self.publisher.published,
            "replay_started": self.publisher.started.is_set(),
            "replay_done": self.publisher.done.is_set(),
            "symbols": len(self.market.symbols),
            "connections": {
                str(s.id): {"combined": s.combined, "streams": list(s.subscriptions)}
                for s in self.sessions.values()
            },
            "faults": [r.describe() for r in self.faults.rules()],
        }

    def _on_rest_request(self, record: RestRequestRecord) -> None:
        self.history.record_event(
            record.time_ns,
            "rest",
            method=record.method,
            path=record.path,
            status=record.status,
            weight=record.weight,
            ip=record.ip,
        )

    def ready_line(self) -> dict[str, str]:
        """The JSON object printed on stdout when the venue process is ready."""
        return {
            "event": "ready",
            "venue": VENUE_NAME,
            "ws": self.ws_url,
            "rest": self.rest_url,
            "control": self.control_url,
        }


def _exchange_info_for(symbols: list[str]) -> dict[str, Any]:
    """The recorded exchangeInfo document cut down to the venue's symbols (others are synthesized)."""
    wanted = set(symbols)
    doc = recorded_exchange_info()
    return {**doc, "symbols": [e for e in doc.get("symbols", []) if e.get("symbol") in wanted]}


def _rest_fault_detail(faults: RestFaults) -> dict[str, Any]:
    detail = dict(vars(faults)) if hasattr(faults, "__dict__") else {}
    if isinstance(detail.get("paths"), frozenset):
        detail["paths"] = sorted(detail["paths"])
    return detail


def _json_response(status: HTTPStatus, code: int, msg: str) -> Response:
    import orjson

    body = orjson.dumps({"code": code, "msg": msg})
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return Response(status.value, status.phrase, headers, body)


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host
