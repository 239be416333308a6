"""The replay loop of a mock venue (venue-neutral).

Pulls messages from the replay timeline, waits for each one's intended send time (recorded offset mapped by
the :class:`~mock_venues.replay.clock.ReplayClock`), lets the venue's :class:`MarketModel` keep its own
state (true order book, published trades for REST backfill) and encode the message in the venue's wire
format, applies venue faults, and hands the frame to every subscribed session.
Sessions queue frames on their WebSocket protocol object; the publisher flushes every touched session once
per batch, so a burst costs one socket write per connection rather than one per message.

Latency contract: every frame is recorded in the venue history with the send time the schedule intended
and the time it was actually written, so a late sender cannot hide latency.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from mock_venues.base.faults import Action, FaultBook
from mock_venues.base.history import SendFlag, VenueHistory
from mock_venues.replay.clock import ReplayClock
from mock_venues.replay.records import Recorded

SPIN_NS = 1_200_000  # within this much of a send time the loop yields instead of sleeping (timer resolution)
MAX_SLEEP_NS = 50_000_000  # sleep in slices so speed changes and stalls take effect promptly
BATCH_YIELD = 512  # as-fast-as-possible mode: yield to the event loop after this many messages


class Subscriber(Protocol):
    """What the publisher needs from a client session."""

    id: int

    @property
    def open(self) -> bool:
        """Whether frames can still be queued."""

    def queue(self, frame: bytes) -> bool | None:
        """Queue one text frame (already encoded) for sending; False: the session does not want this
        message (e.g. a news item outside its symbols), so it is not recorded as sent."""

    def flush(self) -> None:
        """Write everything queued to the socket."""

    def buffered(self) -> int:
        """Bytes waiting in the socket's write buffer."""

    async def drain(self) -> None:
        """Wait until the write buffer is below its low-water mark."""


class MarketModel(Protocol):
    """The venue's true market, fed by the replay (books, trades for REST), and its message encoding."""

    def apply(self, rec: Recorded, intended_ns: int) -> tuple[int, Any] | None:
        """Apply one timeline message to the true state: the venue id it is published under and the
        message to encode (None: it is not published, e.g. a recorded snapshot that seeded the book).
        ``rec`` itself must not be changed (the timeline derives clones from it afterwards)."""

    def encode(self, message: Any, intended_ns: int) -> bytes:
        """A message :meth:`apply` returned, as the venue sends it (before per-connection wrapping)."""


@dataclass(slots=True)
class Route:
    """One session's subscription to one replay stream, under the name the client subscribed with.

    The frame a session gets is ``prefix + payload + suffix`` (e.g. Binance's combined-stream wrapper
    ``{"stream":"<name>","data":`` ... ``}``; empty for raw streams)."""

    session: Subscriber
    client_stream: str
    prefix: bytes
    suffix: bytes
    stream_id: int  # history column id of the client stream name


class Publisher:
    """Drives the replay timeline and fans its messages out to subscribed sessions."""

    def __init__(
        self,
        source: Iterable[Recorded],
        clock: ReplayClock,
        model: MarketModel,
        history: VenueHistory,
        faults: FaultBook,
        *,
        slow_client_limit: int = 64 * 2**20,
        timeline: VenueHistory | None = None,
    ) -> None:
        self.source = source
        self.clock = clock
        self.model = model
        self.history = history
        self.faults = faults
        self.slow_client_limit = slow_client_limit
        self.timeline = timeline
        self.routes: dict[str, list[Route]] = {}
        self.published = 0
        self.started = asyncio.Event()
        self.done = asyncio.Event()
        self._go = asyncio.Event()
        self._dirty: dict[int, Subscriber] = {}
        self._held: dict[str, tuple[int, bytes, int]] = {}  # stream -> (venue id, payload, intended)
        self._stall_until_ns = 0
        self.slow_client_closer: Any = None  # set by the server: callable(session) closing a slow client

    # -- subscriptions -------------------------------------------------------------------------------

    def add_route(self, replay_stream: str, route: Route) -> None:
        """Start delivering ``replay_stream`` to a session."""
        self.routes.setdefault(replay_stream, []).append(route)

    def remove_route(self, replay_stream: str, session: Subscriber, client_stream: str) -> None:
        """Stop delivering ``replay_stream`` (subscribed as ``client_stream``) to a session."""
        routes = self.routes.get(replay_stream)
        if not routes:
            return
        kept = [r for r in routes if not (r.session is session and r.client_stream == client_stream)]
        if kept:
            self.routes[replay_stream] = kept
        else:
            del self.routes[replay_stream]

    def remove_session(self, session: Subscriber) -> None:
        """Drop every route of a session (it closed)."""
        for stream in list(self.routes):
            kept = [r for r in self.routes[stream] if r.session is not session]
            if kept:
                self.routes[stream] = kept
            else:
                del self.routes[stream]
        self._dirty.pop(session.id, None)

    # -- control -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Let the replay begin (the venue may be built with the replay paused until clients connect)."""
        self._go.set()

    def set_speed(self, speed: float | None) -> None:
        """Change the replay speed live (None = as fast as possible); ends a running stall."""
        self.clock.set_speed(speed, time.monotonic_ns())
        self.resume()

    def stall(self, duration_s: float) -> None:
        """Stop sending for ``duration_s`` from now (replacing a running stall); the schedule keeps
        running, so the delay shows as lateness."""
        self._stall_until_ns = time.monotonic_ns() + int(duration_s * 1e9)

    def resume(self) -> None:
        """End a running stall now (nothing to do when none runs)."""
        self._stall_until_ns = 0

    @property
    def stalled(self) -> bool:
        """Whether a stall is running."""
        return self._stall_until_ns > time.monotonic_ns()

    # -- the loop ------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Replay the whole timeline (forever in loop mode), then set :attr:`done`."""
        await self._go.wait()
        mono = time.monotonic_ns
        iterator: Iterator[Recorded] = iter(self.source)
        first = next(iterator, None)
        self.clock.start(mono(), first.offset_ns if first is not None else 0)
        self.started.set()
        pending = first
        since_yield = 0
        try:
            while pending is not None:
                rec = pending
                if self._stall_until_ns:
                    await self._wait_stall()
                intended = self.clock.intended_ns(rec.offset_ns)
                delta = intended - mono()
                if delta > 0:
                    self._flush()
                    if delta > SPIN_NS:
                        await asyncio.sleep(min(delta - SPIN_NS, MAX_SLEEP_NS) / 1e9)
                    else:
                        await asyncio.sleep(0)
                    since_yield = 0
                    continue  # recompute: the speed may have changed while sleeping
                self._publish(rec, intended)
                pending = next(iterator, None)
                since_yield += 1
                if since_yield >= BATCH_YIELD:
                    since_yield = 0
                    self._flush()
                    await self._backpressure()
            self._release_held()
            self._flush()
        finally:
            self.done.set()

    async def _wait_stall(self) -> None:
        self._flush()
        # In slices: a later stall, a resume or a speed change moves or ends the stall while it runs.
        while (left := self._stall_until_ns - time.monotonic_ns()) > 0:
            await asyncio.sleep(min(left, MAX_SLEEP_NS) / 1e9)
        self._stall_until_ns = 0

    async def _backpressure(self) -> None:
        """As fast as possible: wait for slow readers. Timed replay: never wait; cut hopeless clients."""
        if self.clock.speed is None:
            for route_list in self.routes.values():
                for route in route_list:
                    if route.session.open and route.session.buffered() > 4 * 2**20:
                        await route.session.drain()
            await asyncio.sleep(0)
            return
        await asyncio.sleep(0)

    def _flush(self) -> None:
        if not self._dirty:
            return
        dirty = self._dirty
        self._dirty = {}
        limit = self.slow_client_limit
        for session in dirty.values():
            if not session.open:
                continue
            session.flush()
            if self.clock.speed is not None and session.buffered() > limit and self.slow_client_closer:
                self.slow_client_closer(session)

    # -- one message ---------------------------------------------------------------------------------

    def _publish(self, rec: Recorded, intended_ns: int) -> None:
        self.published += 1
        applied = self.model.apply(rec, intended_ns)
        if applied is None:
            return
        venue_id, message = applied
        if self.timeline is not None:
            # What the venue published on this stream, whoever was subscribed (the universe checkers join on).
            self.timeline.record_send(
                0,
                self.timeline.stream_id(rec.stream),
                venue_id,
                intended_ns,
                time.monotonic_ns(),
                SendFlag.NORMAL,
            )
        routes = self.routes.get(rec.stream)
        action = Action.SEND
        if self.faults.message_rules_active:
            action = self.faults.decide(rec.stream, time.monotonic_ns())
        if action is Action.DROP:
            self.history.record_event(time.monotonic_ns(), "dropped", stream=rec.stream, venue_id=venue_id)
            return
        held = self._held.pop(rec.stream, None) if self._held else None
        if not routes:
            return
        payload = self.model.encode(message, intended_ns)
        if action is Action.HOLD:
            self._held[rec.stream] = (venue_id, payload, intended_ns)
            self.history.record_event(time.monotonic_ns(), "held", stream=rec.stream, venue_id=venue_id)
        elif action is Action.CORRUPT:
            self._fan_out(routes, self.faults.corrupt(payload), venue_id, intended_ns, SendFlag.CORRUPTED)
        else:
            self._fan_out(routes, payload, venue_id, intended_ns, SendFlag.NORMAL)
            if action is Action.DUPLICATE:
                self._fan_out(routes, payload, venue_id, intended_ns, SendFlag.DUPLICATE)
        if held is not None:
            h_id, h_payload, h_intended = held
            self._fan_out(routes, h_payload, h_id, h_intended, SendFlag.REORDERED)

    def _release_held(self) -> None:
        for stream, (venue_id, payload, intended) in self._held.items():
            routes = self.routes.get(stream)
            if routes:
                self._fan_out(routes, payload, venue_id, intended, SendFlag.REORDERED)
        self._held.clear()

    def _fan_out(self, routes: list[Route], payload: bytes, venue_id: int, intended: int, flag: int) -> None:
        record = self.history.record_send
        dirty = self._dirty
        now = time.monotonic_ns()
        for route in routes:
            session = route.session
            if not session.open:
                continue
            prefix = route.prefix
            if session.queue(prefix + payload + route.suffix if prefix else payload) is False:
                continue
            record(session.id, route.stream_id, venue_id, intended, now, flag)
            dirty[session.id] = session

    def publish_extra(
        self, stream: str, venue_id: int, payload: bytes, intended_ns: int | None = None
    ) -> int:
        """Publish one message that is not on the timeline (a venue fault's message, e.g. a trade
        correction) to every session subscribed to ``stream`` now, recorded in the timeline and the
        history like a replayed one, and flushed at once; returns the number of sessions it went to."""
        now = time.monotonic_ns()
        intended = now if intended_ns is None else intended_ns
        if self.timeline is not None:
            self.timeline.record_send(
                0, self.timeline.stream_id(stream), venue_id, intended, now, SendFlag.NORMAL
            )
        routes = self.routes.get(stream, [])
        self._fan_out(routes, payload, venue_id, intended, SendFlag.NORMAL)
        self._flush()
        return sum(1 for r in routes if r.session.open)

    def wall_ms(self) -> int:
        """The venue's clock in Unix milliseconds (server time for REST)."""
        return time.time_ns() // 1_000_000
