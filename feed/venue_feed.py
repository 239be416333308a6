"""One venue of a running feed: its engine wired to its connections and its REST recovery.

A :class:`VenueFeed` owns everything per venue — a pool of stream connections within the venue's limits
(its own attempt budget and backoff), the adapter's recovery client inside the venue's REST budget, and a
:class:`~feed.engine.VenueEngine` — and hands every event the engine produces to ``deliver`` (the
:class:`~feed.feed.Feed` that fans them out). Several VenueFeeds share one event loop and one delivery
path, and nothing of one venue touches another's connections, budgets or books.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from feed.adapter import (
    BackfillRequest,
    ControlError,
    ControlReply,
    Notice,
    RecoveryError,
    SnapshotRequest,
    StreamSpec,
    VenueAdapter,
    WindowRequest,
)
from feed.backoff import Backoff
from feed.config import VenueSettings
from feed.connection import ConnectionOptions
from feed.engine import DeadLetter, EngineSettings, VenueEngine
from feed.events import MARKET, FeedEvent
from feed.journal import JournalError, ResumePoint
from feed.limits import AttemptBudget
from feed.pool import ConnectionPool

RESUBSCRIBE_BASE_S = 1.0
log = logging.getLogger(__name__)

MAX_RESUME_CHECKS = 8
"""Streams of a resumed journal checked over REST at start (inside the weight budget even with hundreds of
streams); the others are checked by the engine on their first live message."""
QUIET_STATES = frozenset({"connected", "rotating", "rotated"})  # routine: INFO; the others: WARNING


class UnknownSymbols(ValueError):
    """The venue does not list some configured symbols (the message names them)."""


def _log_connection(venue: str, url: str, state: str, detail: dict[str, Any]) -> None:
    level = logging.INFO if state in QUIET_STATES else logging.WARNING
    extra = {"venue": venue, "event": "connection", "state": state, **detail}
    if state == "connect_failed":
        text = f"cannot connect to {url}: {detail.get('error')}; retrying in {detail.get('retry_in_s')} s"
    elif state == "disconnected":
        text = (
            f"disconnected (code {detail.get('code')} {detail.get('reason') or ''}); "
            f"reconnecting in {detail.get('retry_in_s')} s"
        )
    elif state == "throttled":
        text = f"connection attempts throttled for {detail.get('wait_s')} s (the venue's attempt limit)"
    elif state == "dead_peer":
        text = f"no data nor pong for {detail.get('idle_s')} s: dropping the connection"
    elif state == "login_failed":
        level = logging.ERROR if detail.get("fatal") else logging.WARNING
        then = "giving up on this connection's streams" if detail.get("fatal") else (
            f"retrying in {detail.get('retry_in_s')} s"
        )  # fmt: skip
        text = f"login failed: {detail.get('error')}; {then}"
    else:
        text = " ".join([state, *(f"{k}={v}" for k, v in detail.items())])
    log.log(level, "%s: %s", venue, text, extra=extra)


def _log_state_event(event: FeedEvent) -> None:
    """A concise line for a state event (gaps and invalid books at WARNING, the rest at INFO)."""
    detail = event.detail or {}
    extra = {"venue": event.venue, "event": event.type, "stream": event.stream}
    if event.type == "gap":
        if "from_ns" in detail:
            span = f"exchange time {detail.get('from_ns')}..{detail.get('to_ns')} ns"
        elif event.first_id is not None:
            span = f"ids {event.first_id}..{event.id}"
        else:
            span = f"after id {event.id}"
        log.warning(
            "%s: gap on %s: %s lost (%s)", event.venue, event.stream, span, detail.get("reason"), extra=extra
        )
    elif event.type == "book_invalid":
        log.warning("%s: book of %s invalid: %s; resyncing", event.venue, event.symbol, detail.get("reason"),
                    extra=extra)  # fmt: skip
    elif event.type == "book_resynced":
        log.info("%s: book of %s in sync at id %s", event.venue, event.symbol, event.id, extra=extra)
    elif event.type in ("stale", "fresh"):
        log.info("%s: %s is %s", event.venue, event.stream, event.type, extra=extra)


Deliver = Callable[[FeedEvent], None]
OnDeadLetter = Callable[[str, DeadLetter], None]
OnConnection = Callable[[str, str], None]  # (venue, state)


def backoff_factory(
    base_s: float, cap_s: float, stable_after_s: float, seed: int | None = None
) -> Callable[[], Backoff]:
    """A factory of independent backoffs (one per connection) sharing the settings."""
    rng = random.Random(seed)

    def make() -> Backoff:
        return Backoff(
            base_s=base_s, cap_s=cap_s, stable_after_s=stable_after_s, rng=random.Random(rng.random())
        )

    return make


class VenueFeed:
    """A venue's connections, recovery and engine (started and stopped by :class:`~feed.feed.Feed`)."""

    def __init__(
        self,
        settings: VenueSettings,
        adapter: VenueAdapter,
        engine_settings: EngineSettings,
        *,
        deliver: Deliver,
        dead_letter: OnDeadLetter,
        on_connection: OnConnection | None = None,
        seed: int | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.adapter = adapter
        self.engine = VenueEngine(settings.name, adapter, engine_settings)
        self.recovery = adapter.recovery(settings) if settings.rest_url is not None else None
        self._deliver = deliver
        self._dead_letter = dead_letter
        self._on_connection = on_connection
        max_connections = adapter.limits.max_connections
        login = adapter.login(settings)
        self.pool = ConnectionPool(
            ConnectionOptions(
                url=adapter.connection_url(settings, []),
                control_frames=adapter.control_frames,
                idle_timeout_s=settings.idle_timeout_s,
                ping_interval_s=settings.ping_interval_s,
                # make-before-break needs a second connection: a venue allowing one is never rotated
                rotate_after_s=None if max_connections == 1 else settings.rotate_after_s,
                rotation_overlap_s=settings.rotation_overlap_s,
                control_messages_per_second=settings.control_messages_per_second,
                client=settings.ws_client,
                login=login,
                decode=adapter.codec().decode if login is not None else None,
            ),
            max_streams=settings.max_streams_per_connection,
            attempts=AttemptBudget(settings.connection_attempts_per_5min, adapter.limits.attempt_window_s),
            backoff_factory=backoff_factory(
                settings.backoff_base_s, settings.backoff_cap_s, settings.backoff_stable_after_s, seed
            ),
            on_frame=self._on_frame,
            on_state=self._on_connection_state,
            on_interrupted=lambda streams: self.engine.interrupted(streams, time.monotonic_ns()),
            on_subscribed=self._on_subscribed,
            group_of=self._symbol_of,
            url_of=lambda stream: adapter.connection_url(settings, [stream]),
            max_connections=max_connections,
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        self._backfill_tasks: dict[str, asyncio.Task[None]] = {}
        self._window_tasks: dict[str, asyncio.Task[None]] = {}
        self._resubscribe_tries: dict[tuple[str, ...], int] = {}
        self._accepted: set[str] = set()  # streams the venue accepted on a connection that is still up

    @property
    def ready(self) -> bool:
        """Connected and subscribed: every connection open and every stream accepted by the venue."""
        connections = self.pool.connections
        return (
            bool(connections)
            and all(conn.connected for conn in connections)
            and all(stream in self._accepted for stream in self.engine.streams)
        )

    def _streams_of_slot(self, slot: Any) -> list[str]:
        connections = self.pool.connections
        if isinstance(slot, int) and 0 <= slot < len(connections):
            return list(connections[slot].streams)
        return []

    def _symbol_of(self, stream: str) -> str:
        state = self.engine.streams.get(stream)
        return state.spec.symbol if state is not None else stream

    # -- lifecycle -----------------------------------------------------------------------------------

    def specs(self) -> list[StreamSpec]:
        """The streams this venue is configured to carry."""
        return self.adapter.stream_specs(self.settings)

    async def start(self, resume: ResumePoint | None = None) -> None:
        """Watch the configured streams, open the recovery client, check a resumed journal against the
        venue (:class:`~feed.journal.JournalError` when it is ahead) and connect."""
        specs = self.specs()
        self.engine.watch(specs, time.monotonic_ns())
        if self.recovery is not None:
            await self.recovery.start()
        if self.recovery is not None:
            await self._check_symbols(specs)
        if resume is not None:
            mine = {stream: last for (venue, stream), last in resume.ids.items() if venue == self.name}
            verified = await self._check_resume(resume, mine)
            self.engine.resume(mine, unverified=[s for s in mine if s not in verified])
        await self.pool.add([s.name for s in specs])

    async def _check_symbols(self, specs: list[StreamSpec]) -> None:
        """Refuse symbols the venue does not list (the adapter's ``Recovery.instruments``; a venue without
        a listing, or one that cannot be reached now, is not checked)."""
        try:
            listed = await self.recovery.instruments() if self.recovery is not None else None
        except RecoveryError as exc:
            log.warning("%s: cannot list the venue's instruments, symbols not checked: %s", self.name, exc)
            return
        if listed is None:
            return
        unknown = sorted({s.symbol for s in specs if s.symbol.upper() not in listed})
        if unknown:
            raise UnknownSymbols(
                f"{self.name}: the venue does not list symbol(s) {', '.join(unknown)} "
                f"({self.settings.rest_url}); check --symbols"
            )

    async def _check_resume(self, resume: ResumePoint, last_ids: dict[str, int]) -> set[str]:
        """Refuse a journal whose ids are beyond what the venue has (asked through the adapter's recovery);
        returns the streams the venue confirmed (the engine checks the others on their first live message)."""
        verified: set[str] = set()
        if self.recovery is None:
            return verified
        checked = 0
        for stream, last in sorted(last_ids.items()):
            state = self.engine.streams.get(stream)
            if state is None or checked >= MAX_RESUME_CHECKS:
                continue
            checked += 1
            try:
                latest = await self.recovery.latest_id(state.spec)
            except RecoveryError as exc:
                log.warning("%s: cannot check the journal's %s against the venue: %s", self.name, stream, exc)
                continue
            if latest is not None and last > latest:
                raise JournalError(
                    f"{resume.where(self.name, stream)}: id {last} of {self.name} {stream} is ahead of the "
                    f"venue's newest ({latest}): the journal is not this venue's; move it away or start "
                    "without --resume"
                )
            if latest is not None:
                verified.add(stream)
        return verified

    async def stop(self) -> None:
        """Report the outage windows still open (before closing: a close is not an outage), then close
        connections and background work."""
        self.engine.stop(time.monotonic_ns())
        self.flush()
        await self.pool.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.recovery is not None:
            await self.recovery.close()

    async def add_streams(self, specs: list[StreamSpec]) -> list[str]:
        """Carry more streams; returns the new stream names. Symbols the venue does not list are refused
        (:class:`UnknownSymbols`) and nothing is added, as at start."""
        new = [s for s in specs if s.name not in self.engine.streams]
        await self._check_symbols(new)
        self.engine.watch(new, time.monotonic_ns())
        await self.pool.add([s.name for s in new])
        self.flush()
        return [s.name for s in new]

    async def remove_streams(self, names: list[str]) -> list[str]:
        """Stop carrying streams; the others are not touched."""
        gone = [n for n in names if n in self.engine.streams]
        await self.pool.remove(gone)
        self.engine.unwatch(gone)
        return gone

    # -- data path -----------------------------------------------------------------------------------

    def _on_frame(self, frame: bytes, recv_ns: int) -> None:
        control = self.engine.receive_frame(frame, recv_ns)
        if control is not None:
            self._on_control(control, recv_ns)
        if self.engine.has_output:
            self.flush()

    def flush(self) -> None:
        """Pull everything the engine produced: events to delivery, dead letters, requests to REST."""
        engine = self.engine
        for event in engine.events_received():
            if event.type != MARKET:
                _log_state_event(event)
            self._deliver(event)
        for letter in engine.dead_letters():
            self._dead_letter(self.name, letter)
        for request in engine.requests_to_send():
            if isinstance(request, SnapshotRequest):
                if request.stream not in self._snapshot_tasks:
                    self._snapshot_tasks[request.stream] = self._spawn(self._fetch_snapshot(request.stream))
            elif isinstance(request, BackfillRequest) and request.stream not in self._backfill_tasks:
                self._backfill_tasks[request.stream] = self._spawn(self._backfill(request))
            elif isinstance(request, WindowRequest) and request.stream not in self._window_tasks:
                self._window_tasks[request.stream] = self._spawn(self._window(request))

    def tick(self, now_ns: int) -> None:
        """Time-driven engine work (hold windows, staleness, snapshot retries), then pull its output."""
        self.engine.tick(now_ns)
        self.flush()

    def _on_control(self, message: ControlReply | ControlError | Notice, now_ns: int) -> None:
        if isinstance(message, Notice):
            self.engine.connection_event(message.kind, now_ns, **message.detail)
            return
        request = self.pool.take_request(message.request_id)
        if request is None:
            return
        conn, streams, method = request
        if isinstance(message, ControlError):
            log.warning(
                "%s: the venue refused to %s %s: %s (code %s); asking again",
                self.name,
                method,
                ",".join(streams),
                message.msg,
                message.code,
                extra={"venue": self.name, "event": "subscription", "accepted": False, "streams": streams},
            )
            self.engine.subscription_event(
                streams, False, now_ns, method=method, code=message.code, msg=message.msg
            )
            if method == "subscribe":
                key = tuple(streams)
                tries = self._resubscribe_tries.get(key, 0) + 1
                self._resubscribe_tries[key] = tries
                delay = min(RESUBSCRIBE_BASE_S * 2 ** (tries - 1), self.settings.backoff_cap_s)
                self._spawn(self._resubscribe_later(conn, streams, delay))
        elif method == "subscribe":
            self._accepted.update(streams)
            log.debug("%s: subscribed %d stream(s)", self.name, len(streams), extra={"venue": self.name})
            self._resubscribe_tries.pop(tuple(streams), None)
            self.engine.subscription_event(streams, True, now_ns, method=method)

    async def _resubscribe_later(self, conn: Any, streams: list[str], delay: float) -> None:
        await asyncio.sleep(delay)
        await conn.resubscribe(streams)

    def _on_subscribed(self, streams: list[str]) -> None:
        self.engine.subscribed(streams, time.monotonic_ns())
        self.flush()  # snapshots the books wanted while their streams were down go out now

    def _on_connection_state(self, state: str, **detail: Any) -> None:
        _log_connection(self.name, self.settings.ws_url, state, detail)
        if state in ("disconnected", "connect_failed", "dead_peer", "login_failed"):
            self._accepted.difference_update(self._streams_of_slot(detail.get("slot")))
        if state == "login_failed" and detail.get("fatal"):
            # The venue will not serve these streams on this account (e.g. Alpaca 409, insufficient
            # subscription): said once, clearly, as a refused subscription; the connection gave up.
            self.engine.subscription_event(
                list(detail.get("streams") or []), False, time.monotonic_ns(), method="login",
                code=detail.get("code"), msg=detail.get("error"), fatal=True,
            )  # fmt: skip
        if self._on_connection is not None:
            self._on_connection(self.name, state)
        self.engine.connection_event(state, time.monotonic_ns(), **detail)
        self.flush()

    # -- recovery requests ---------------------------------------------------------------------------

    async def _fetch_snapshot(self, stream: str) -> None:
        spec = self.engine.streams[stream].spec if stream in self.engine.streams else None
        try:
            if spec is None:
                return
            if self.recovery is None:
                self.engine.snapshot_failed(stream, "the venue has no REST URL", time.monotonic_ns())
                return
            try:
                snapshot = await self.recovery.snapshot(spec)
            except RecoveryError as exc:
                self.engine.snapshot_failed(stream, str(exc), time.monotonic_ns())
            else:
                self.engine.receive_snapshot(stream, snapshot, time.monotonic_ns())
        finally:
            self._snapshot_tasks.pop(stream, None)
        self.flush()

    async def _backfill(self, request: BackfillRequest) -> None:
        state = self.engine.streams.get(request.stream)
        try:
            if state is None:
                return
            if self.recovery is None:
                self.engine.backfill_failed(request.stream, "the venue has no REST URL", time.monotonic_ns())
                return
            try:
                items = await self.recovery.backfill(state.spec, request.first_id, request.last_id)
            except RecoveryError as exc:
                self.engine.backfill_failed(
                    request.stream, f"{type(exc).__name__}: {exc}", time.monotonic_ns()
                )
            else:
                self.engine.receive_backfill(request.stream, items, time.monotonic_ns())
        finally:
            self._backfill_tasks.pop(request.stream, None)
        self.flush()

    async def _window(self, request: WindowRequest) -> None:
        state = self.engine.streams.get(request.stream)
        try:
            if state is None:
                return
            if self.recovery is None:
                self.engine.window_failed(request.stream, "the venue has no REST URL", time.monotonic_ns())
                return
            try:
                fill = await self.recovery.window(state.spec, request.from_ns, request.to_ns)
            except RecoveryError as exc:
                self.engine.window_failed(request.stream, f"{type(exc).__name__}: {exc}", time.monotonic_ns())
            else:
                self.engine.receive_window(request.stream, fill, time.monotonic_ns())
        finally:
            self._window_tasks.pop(request.stream, None)
        self.flush()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- views ---------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """This venue's counters."""
        engine, c = self.engine, self.engine.counters
        return {
            "adapter": self.adapter.name,
            "streams": len(engine.streams),
            "rejected": c.rejected_total,
            "duplicates_dropped": c.duplicates,
            "lost_ids": c.lost_total,
            "gaps": sum(c.gaps.values()),
            "backfilled": c.backfilled,
            "windows": c.windows,
            "connections": len(self.pool.connections),
            "connected": sum(1 for conn in self.pool.connections if conn.connected),
            "connects": sum(conn.connects for conn in self.pool.connections),
            "rest_requests": self.recovery.requests if self.recovery is not None else 0,
            "rest_throttled": self.recovery.throttled if self.recovery is not None else 0,
            "resyncs": sum(b.sync.resyncs for b in engine.books.values()),
            "buffer_high_water": engine.buffer_high_water,
        }
