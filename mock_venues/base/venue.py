"""A mock venue around one replay timeline: the venue-neutral half (servers, replay, faults, history).

:class:`VenueBase` starts the WebSocket server, the venue's REST app (if it has one) and the control API on
loopback, runs the replay (the :class:`~mock_venues.base.publisher.Publisher` over the timeline, through
the venue's :class:`~mock_venues.base.publisher.MarketModel`), keeps the venue history and the timeline
of everything published, and offers the control calls (faults, speed, stalls, closes, true book) both in
Python and over the control HTTP API. A venue (``mock_venues/<venue>/``) subclasses it and provides its
own parts: the timeline's tape, the market model, the handshake rules and the session protocol, its REST
app; see docs/adding-a-venue.md.
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
from typing import Any, ClassVar

import orjson
from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from mock_venues.base.control_api import build_control_app
from mock_venues.base.durations import check_duration
from mock_venues.base.faults import FaultBook, FaultRule
from mock_venues.base.history import VenueHistory
from mock_venues.base.limits import ConnectionAttemptLimiter
from mock_venues.base.publisher import MarketModel, Publisher
from mock_venues.base.reference import ReferenceClient
from mock_venues.base.rest_faults import RestFaults
from mock_venues.base.session import SessionBase
from mock_venues.replay.clock import ReplayClock
from mock_venues.replay.source import ReplaySource
from tickstorm.http_guard import HEADER_READ_TIMEOUT_S, error_json, start_site
from tickstorm.ports import listening


@dataclass
class VenueConfig:
    """Everything that shapes one venue instance; the limits default to Binance spot's documented values
    (a venue class may give its own in ``config_defaults``)."""

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
    rebase_times: bool = True  # event times moved to the intended send time
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0
    max_connection_age_s: float = 24 * 3600.0
    max_age_close_code: int = 1001
    max_streams_per_connection: int = 1024
    max_incoming_per_second: int = 5
    max_connection_attempts: int = 300
    connection_attempt_window_s: float = 300.0
    rest_weight_per_minute: int = 6000
    ban_scale: float = 1.0  # multiplies REST ban lengths (scenarios compress time)
    refuse_code: int = 2
    refuse_msg: str = "Invalid request: subscription refused"
    max_message_bytes: int = 2**16  # largest client message the WebSocket server reads
    http_header_timeout_s: float = HEADER_READ_TIMEOUT_S  # REST/control: time to send a request head
    extra: dict[str, Any] = field(default_factory=dict)


class HandshakeError(ValueError):
    """A WebSocket upgrade request the venue rejects (``status``, and the venue's own error body)."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body or orjson.dumps({"error": message})


def json_response(status: HTTPStatus, body: bytes) -> Response:
    """An HTTP answer to a WebSocket upgrade request, JSON body."""
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return Response(status.value, status.phrase, headers, body)


def host_for_url(host: str) -> str:
    """A host as it stands in a URL (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host else host


class VenueBase:
    """A running mock venue (async context manager); subclasses supply the venue's own parts."""

    name: ClassVar[str] = "?"
    """The registry name (also the venue's CLI name and the feed adapter's name)."""
    description: ClassVar[str] = ""
    default_recording: ClassVar[str] = "spot-btcusdt"
    """The bundled recording set (mock_venues/recordings) replayed when none is given."""
    recording_formats: ClassVar[frozenset[str]] = frozenset({"binance"})
    """Which recording formats the venue's tape reads (bundled sets say theirs)."""
    ws_compression: ClassVar[str | None] = None
    """WebSocket compression the server offers: None (off; Binance's streams) or ``"deflate"``
    (permessage-deflate, RFC 7692). Data frames the publisher writes go uncompressed either way (a
    message without RSV1 is valid on a deflate connection); control replies are compressed."""

    def __init__(self, config: VenueConfig) -> None:
        self.config = config
        self.history = VenueHistory()
        # Every message published, once, whoever was subscribed (connection 0): what a feed should have got.
        self.timeline = VenueHistory()
        self.faults = FaultBook(config.seed)
        self.source = self.build_source()
        self.model = self.build_model()
        self.publisher = Publisher(
            self.source,
            ReplayClock(config.speed),
            self.model,
            self.history,
            self.faults,
            timeline=self.timeline,
        )
        self.publisher.slow_client_closer = self._close_slow_client
        self._attempts = ConnectionAttemptLimiter(
            limit=config.max_connection_attempts, window_ns=int(config.connection_attempt_window_s * 1e9)
        )
        self.sessions: dict[int, SessionBase] = {}
        self._session_ids = itertools.count(1)
        self._ws_server: Server | None = None
        self._runners: list[web.AppRunner] = []
        self._replay_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self.ws_url = self.rest_url = self.control_url = ""

    # -- the venue's own parts -----------------------------------------------------------------------

    def build_source(self) -> ReplaySource:
        """The replay timeline (the venue's tape over ``config.recordings``)."""
        raise NotImplementedError

    def build_model(self) -> MarketModel:
        """The venue's market model (after :meth:`build_source`)."""
        raise NotImplementedError

    def check_handshake(self, path: str) -> None:
        """Refuse an upgrade request the venue would refuse (:class:`HandshakeError`)."""

    def new_session(self, conn: ServerConnection, session_id: int) -> SessionBase:
        """A session for a connection whose handshake was accepted (subscribe the path's streams here)."""
        raise NotImplementedError

    def connect_detail(self, conn: ServerConnection) -> dict[str, Any]:
        """Venue-specific facts about a new connection for its ``connect`` history event."""
        return {}

    def rest_app(self) -> web.Application | None:
        """The venue's REST application (None: the venue has no REST API)."""
        return None

    def rest_error_body(self, status: int, message: str) -> bytes:
        """The venue's REST error body for a request its HTTP parser refused (over-long line or header)."""
        return error_json(status, message)

    def apply_rest_fault(self, faults: RestFaults) -> None:
        """Answer REST requests with an error status and/or slowly."""
        raise ValueError(f"the {self.name} venue has no REST API")

    def replay_stream_for(self, client_stream: str) -> str | None:
        """The replay stream that feeds a client stream name (None: nothing recorded feeds it)."""
        return client_stream if client_stream in self.source.streams else None

    def latest_value(self, client_stream: str) -> bool:
        """Whether every message of a stream supersedes the last (quotes, bars: a missed one is replaced by
        the next, so a feed cannot and need not account for each); False: every message counts."""
        return False

    def stream_info(self, client_streams: list[str]) -> dict[str, dict[str, Any]]:
        """Per client stream: the replay stream feeding it and whether it is a latest-value stream."""
        return {
            name: {"replay": self.replay_stream_for(name), "latest_value": self.latest_value(name)}
            for name in client_streams
        }

    @classmethod
    def reference_client(cls, ws_url: str, streams: list[str]) -> ReferenceClient:
        """A bare client of this venue for ``streams`` (the venue check, the latency ceiling)."""
        raise NotImplementedError(f"the {cls.name} venue has no reference client")

    @classmethod
    def reference_clients(cls, ws_url: str, streams: list[str]) -> list[ReferenceClient]:
        """The bare clients that together receive ``streams`` (one per endpoint; default: one client)."""
        return [cls.reference_client(ws_url, streams)]

    ids_increase: ClassVar[bool] = True
    """Whether each stream's history keys strictly increase (the venue check holds the venue to it); a
    venue whose keys are unique but not ordered (Alpaca: per exchange) says False."""

    check_sets: ClassVar[tuple[tuple[str, float], ...]] = ()
    """(bundled recording set, replay speed) pairs ``tickstorm venue-check`` replays through the venue."""

    @staticmethod
    def history_key(stream: str, event_id: int | None, data: Any) -> int | None:
        """The key this venue's history records a message under, from what a feed delivered of it: the
        event's ``stream`` (the history's client stream name), its ``id`` (the venue's id verbatim) and its
        ``data`` (the venue's fields). None: the event cannot be joined by key (no id). Default: the id;
        a venue whose history keys combine several fields overrides it (the harness joins with it)."""
        return event_id

    def true_book(self, symbol: str, limit: int = 5000) -> dict[str, Any]:
        """The venue's true book of ``symbol`` now: ``{"id", "bids", "asks"}`` best first (KeyError)."""
        raise KeyError(symbol)

    def books_crossed(self) -> dict[str, int]:
        """Per symbol, how many updates left the venue's true book crossed (the invariant: none ever)."""
        return {}

    def insert_gap(self, symbol: str, skip: int = 1) -> None:
        """Make ``symbol``'s sequence ids jump by ``skip`` (a gap a feed must detect)."""
        raise ValueError(f"the {self.name} venue has no sequence ids to skip")

    venue_fault_kinds: ClassVar[tuple[str, ...]] = ()
    """The kinds :meth:`venue_fault` accepts (the venue's own faults)."""

    async def venue_fault(self, kind: str, **params: Any) -> dict[str, Any]:
        """Inject one of the venue's own faults (``POST /venue-fault {"kind": ..., ...}``); returns what
        was done. Each venue records its faults in the history; ValueError for an unknown kind or a bad
        parameter."""
        raise ValueError(f"the {self.name} venue has no venue faults")

    # -- lifecycle -----------------------------------------------------------------------------------

    async def __aenter__(self) -> VenueBase:
        try:
            await self.start_servers()
        except BaseException:  # a server that could not bind: close the ones that did
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start_servers(self) -> None:
        """Bind the WebSocket, REST and control servers; start the replay unless autostart is off."""
        cfg = self.config
        with listening("WebSocket server", cfg.host, cfg.ws_port):
            self._ws_server = await serve(
                self._handle,
                cfg.host,
                cfg.ws_port,
                process_request=self._process_request,
                ping_interval=cfg.ping_interval_s,
                ping_timeout=cfg.pong_timeout_s,
                compression=self.ws_compression,
                max_size=cfg.max_message_bytes,
                server_header=None,
            )
        ws_port = self._ws_server.sockets[0].getsockname()[1]
        self.ws_url = f"ws://{host_for_url(cfg.host)}:{ws_port}"
        rest = self.rest_app()
        if rest is not None:
            self.rest_url = await self._start_app(rest, cfg.rest_port, self.rest_error_body, "REST server")
        self.control_url = await self._start_app(
            build_control_app(self), cfg.control_port, error_json, "control API"
        )
        self._replay_task = asyncio.create_task(self.publisher.run(), name="venue-replay")
        if cfg.autostart:
            self.start_replay()

    async def _start_app(self, app: web.Application, port: int, error_body: Any, what: str) -> str:
        runner, bound = await start_site(
            app,
            self.config.host,
            port,
            header_timeout_s=self.config.http_header_timeout_s,
            error_body=error_body,
            reuse_address=True,
            what=what,
        )
        self._runners.append(runner)
        return f"http://{host_for_url(self.config.host)}:{bound}"

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

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        now = time.monotonic_ns()
        peer = conn.remote_address[0] if conn.remote_address else "?"
        if not self._attempts.hit(peer, now):
            self.history.record_event(now, "connection_refused", peer=peer, reason="attempt limit")
            return json_response(HTTPStatus.TOO_MANY_REQUESTS, self.attempts_refused_body())
        try:
            self.check_handshake(request.path)
        except HandshakeError as exc:
            self.history.record_event(
                now,
                "handshake_refused",
                peer=peer,
                path=request.path,
                status=exc.status.value,
                reason=str(exc),
            )
            return json_response(exc.status, exc.body)
        return None

    def attempts_refused_body(self) -> bytes:
        """The body of the 429 answer to a client over the connection-attempt limit."""
        return orjson.dumps({"error": "Too many connection attempts"})

    async def _handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        session = self.new_session(conn, next(self._session_ids))
        self.sessions[session.id] = session
        self.history.record_event(
            time.monotonic_ns(),
            "connect",
            connection=session.id,
            path=conn.request.path,
            streams=list(session.subscriptions),
            **self.connect_detail(conn),
        )
        try:
            await session.serve()
        finally:
            self.sessions.pop(session.id, None)
            code = conn.close_code
            self.history.record_event(time.monotonic_ns(), "disconnect", connection=session.id, code=code)

    async def close_session(self, session: SessionBase, code: int, reason: str) -> None:
        """Close one client connection with a close code."""
        self.publisher.remove_session(session)
        await session.conn.close(code, reason)

    def _close_slow_client(self, session: SessionBase) -> None:
        self.history.record_event(time.monotonic_ns(), "slow_client_closed", connection=session.id)
        self.spawn(self.close_session(session, 1008, "Slow consumer"))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a background job owned by the venue (kept referenced until it ends, cancelled on stop)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- control calls (the control API maps onto these) -------------------------------------------

    def add_fault(self, kind: str, **params: Any) -> FaultRule:
        """Add a per-message fault rule (see :mod:`mock_venues.base.faults`); recorded in the history."""
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
        if self.rest_url:
            self.apply_rest_fault(RestFaults())
        self.history.record_event(time.monotonic_ns(), "faults_cleared")

    async def close_connections(
        self, code: int = 1000, reason: str = "", connection: int | None = None, shutdown_event: bool = False
    ) -> list[int]:
        """Close every connection (or one) with ``code``; optionally announce a server shutdown first."""
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
            frame = session.shutdown_frame() if shutdown_event and session.open else None
            if frame is not None:
                with contextlib.suppress(Exception):
                    await session.send_now(frame)
        await asyncio.gather(*(self.close_session(s, code, reason) for s in targets), return_exceptions=True)
        return [s.id for s in targets]

    def set_speed(self, speed: float | None) -> None:
        """Change the replay speed live (ends a running stall)."""
        self.publisher.set_speed(speed)
        self.history.record_event(time.monotonic_ns(), "speed", speed=speed)

    def stall(self, duration_s: float) -> None:
        """Stall the sender for ``duration_s`` seconds from now (the schedule keeps running), at most
        :data:`~mock_venues.base.durations.MAX_DURATION_S`; a later stall replaces a running one."""
        check_duration("duration_s", duration_s)
        self.publisher.stall(duration_s)
        self.history.record_event(time.monotonic_ns(), "stall", duration_s=duration_s)

    def resume(self) -> None:
        """End a running stall now."""
        self.publisher.resume()
        self.history.record_event(time.monotonic_ns(), "resume")

    def set_rest_fault(self, faults: RestFaults) -> None:
        """Answer REST requests with an error status and/or slowly (see :class:`RestFaults`)."""
        self.apply_rest_fault(faults)
        detail = {k: sorted(v) if isinstance(v, frozenset) else v for k, v in vars(faults).items()}
        self.history.record_event(time.monotonic_ns(), "rest_fault", **detail)

    def state(self) -> dict[str, Any]:
        """A JSON-able summary: urls, speed, replay progress, connections and their subscriptions."""
        return {
            "venue": self.name,
            "ws": self.ws_url,
            "rest": self.rest_url or None,
            "control": self.control_url,
            "speed": self.publisher.clock.speed,
            "published": self.publisher.published,
            "replay_started": self.publisher.started.is_set(),
            "replay_done": self.publisher.done.is_set(),
            "stalled": self.publisher.stalled,
            "books_crossed": self.books_crossed(),
            "symbols": len(self.source.symbols),
            "connections": {
                str(s.id): {"streams": list(s.subscriptions), **self.session_state(s)}
                for s in self.sessions.values()
            },
            "faults": [r.describe() for r in self.faults.rules()],
        }

    def session_state(self, session: SessionBase) -> dict[str, Any]:
        """Venue-specific facts about a connection for :meth:`state`."""
        return {}

    def ready_line(self) -> dict[str, Any]:
        """The JSON object printed on stdout when the venue process is ready."""
        return {
            "event": "ready",
            "venue": self.name,
            "ws": self.ws_url,
            "rest": self.rest_url or None,
            "control": self.control_url,
        }
