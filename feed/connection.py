"""One logical stream connection to a venue: connect, subscribe, read, detect a dead peer, reconnect, rotate.

A ``StreamConnection`` owns a set of stream names and keeps them flowing over one WebSocket to the URL the
venue's adapter gives, subscribing with the adapter's control frames, paced (Binance allows 5 incoming
messages per second per connection). It reconnects with exponential backoff and full jitter within the
venue's shared connection-attempt budget, declares the peer dead when no frame at all arrived for
``idle_timeout_s``, and before the venue's connection age limit opens a replacement connection, lets both
overlap and then closes the old one (make-before-break; the engine drops the overlap's duplicates by id).
Frames go to ``on_frame(frame, recv_ns)``; everything else is I/O plumbing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from feed.adapter import ControlError, Login, Notice
from feed.backoff import Backoff
from feed.limits import AttemptBudget, MessagePacer
from feed.wire import Wire, WireError, open_wire

_ids = itertools.count(1)
_connection_ids = itertools.count(1)


@dataclass
class ConnectionOptions:
    """How connections behave (from the venue's settings and its adapter)."""

    url: str  # where a connection connects (the adapter's connection URL)
    control_frames: Callable[
        [str, list[str], int], Sequence[str | bytes]
    ]  # the adapter's (un)subscribe frames
    idle_timeout_s: float = 10.0
    ping_interval_s: float | None = 20.0
    rotate_after_s: float | None = 23.5 * 3600  # None: never rotate (a venue allowing one connection)
    rotation_overlap_s: float = 2.0
    control_messages_per_second: float = 4.0
    open_timeout_s: float = 10.0
    client: str = "picows"  # or "websockets" (see feed.wire)
    login: Login | None = None  # the venue's login step on each new connection (feed.adapter.Login)
    decode: Callable[[bytes], Any] | None = None  # the adapter's codec, to read the login answers


class LoginFailed(ConnectionError):
    """The venue refused the login (``code`` is its error code; None: no answer in time)."""

    def __init__(self, message: str, code: int | None, fatal: bool) -> None:
        super().__init__(message)
        self.code = code
        self.fatal = fatal


class StreamConnection:
    """Keeps one set of streams flowing over one (occasionally replaced) WebSocket."""

    def __init__(
        self,
        streams: list[str],
        options: ConnectionOptions,
        *,
        attempts: AttemptBudget,
        backoff: Backoff,
        on_frame: Callable[[bytes, int], None],
        on_state: Callable[..., None],
        register_request: Callable[[int, StreamConnection, list[str], str], None],
        on_interrupted: Callable[[list[str]], None] | None = None,
        on_subscribed: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.streams: list[str] = list(dict.fromkeys(streams))
        self.options = options
        self._attempts = attempts
        self._backoff = backoff
        self._on_frame = on_frame
        self._on_state = on_state
        self._register_request = register_request
        self._on_interrupted = on_interrupted
        self._on_subscribed = on_subscribed
        self._pacer = MessagePacer(options.control_messages_per_second)
        self._stopped = asyncio.Event()
        self._current: Wire | None = None
        self._task: asyncio.Task[None] | None = None
        self.physical_id = 0
        self.connects = 0
        self.last_frame_ns = 0
        self.failed: LoginFailed | None = None  # a fatal login refusal: the connection gave up
        self._login_queue: asyncio.Queue[bytes] | None = None  # frames go here while logging in

    @property
    def connected(self) -> bool:
        """Whether a WebSocket is open right now."""
        return self._current is not None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the connect/read/reconnect loop in the background."""
        self._task = asyncio.create_task(self._run(), name=f"stream-connection-{id(self):x}")

    async def stop(self) -> None:
        """Close the WebSocket and end the loop."""
        self._stopped.set()
        wire = self._current
        if wire is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(wire.close(1000, "feed stopping"), 3.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    # -- subscriptions -------------------------------------------------------------------------------

    async def subscribe(self, streams: list[str]) -> None:
        """Add streams (sent now if connected, else on the next connect)."""
        new = [s for s in streams if s not in self.streams]
        self.streams.extend(new)
        if new and self._current is not None:
            await self._send_control(self._current, "subscribe", new)

    async def unsubscribe(self, streams: list[str]) -> None:
        """Remove streams."""
        gone = [s for s in streams if s in self.streams]
        self.streams = [s for s in self.streams if s not in gone]
        if gone and self._current is not None:
            await self._send_control(self._current, "unsubscribe", gone)

    async def resubscribe(self, streams: list[str]) -> None:
        """Ask again for streams the venue refused."""
        if self._current is not None:
            await self._send_control(self._current, "subscribe", [s for s in streams if s in self.streams])

    async def _send_control(self, wire: Wire, method: str, streams: list[str]) -> None:
        if not streams:
            return
        delay = self._pacer.reserve(time.monotonic()) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        request_id = next(_ids)
        self._register_request(request_id, self, streams, method)
        for frame in self.options.control_frames(method, streams, request_id):
            wire.send(frame)

    # -- the loop ------------------------------------------------------------------------------------

    async def _run(self) -> None:
        wire: Wire | None = None
        while not self._stopped.is_set():
            if wire is None:
                wire = await self._connect()
                if wire is None:
                    return
            wire = await self._serve(wire)

    def _frame_callback(self, first: asyncio.Event) -> Callable[[bytes, int], None]:
        on_frame = self._on_frame

        def received(frame: bytes, now: int) -> None:
            self.last_frame_ns = now
            if not first.is_set():
                first.set()
            if self._login_queue is not None:
                self._login_queue.put_nowait(frame)
                return
            on_frame(frame, now)

        return received

    async def _connect(self, first: asyncio.Event | None = None) -> Wire | None:
        """Connect within the attempt budget, backing off after failures; None once stopped."""
        url = self.options.url
        while not self._stopped.is_set():
            while (wait := self._attempts.wait_s(time.monotonic())) > 0:
                self._on_state("throttled", wait_s=round(wait, 3))
                if await self._sleep_or_stop(wait):
                    return None
            self._attempts.record(time.monotonic())
            self.connects += 1
            first = first or asyncio.Event()
            login = self.options.login
            if login is not None:
                self._login_queue = asyncio.Queue()
            try:
                wire = await open_wire(
                    self.options.client,
                    url,
                    self._frame_callback(first),
                    open_timeout=self.options.open_timeout_s,
                    headers=login.headers if login is not None else (),
                )
            except WireError as exc:
                self._login_queue = None
                delay = self._backoff.next_delay()
                if exc.status in (418, 429):
                    delay = self._backoff.retry_after(exc.retry_after or delay)
                self._on_state(
                    "connect_failed", error=str(exc), status=exc.status, retry_in_s=round(delay, 3)
                )
                if await self._sleep_or_stop(delay):
                    return None
                continue
            self.physical_id = next(_connection_ids)
            self.last_frame_ns = time.monotonic_ns()
            if login is not None:
                try:
                    await self._login(wire, login)
                except LoginFailed as exc:
                    self._login_queue = None
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(wire.close(1000, "login failed"), 3.0)
                    delay = self._backoff.next_delay()
                    self._on_state(
                        "login_failed",
                        connection=self.physical_id,
                        code=exc.code,
                        error=str(exc),
                        fatal=exc.fatal,
                        streams=list(self.streams),
                        retry_in_s=None if exc.fatal else round(delay, 3),
                    )
                    if exc.fatal:
                        self.failed = exc
                        return None
                    if await self._sleep_or_stop(delay):
                        return None
                    continue
                self._login_queue = None
            self._backoff.connected(time.monotonic())
            self._on_state("connected", connection=self.physical_id, streams=len(self.streams))
            await self._send_control(wire, "subscribe", self.streams)
            if self._on_subscribed is not None and not self._stopped.is_set():
                self._on_subscribed(list(self.streams))  # updates flow again from here
            return wire
        return None

    async def _login(self, wire: Wire, login: Login) -> None:
        """The venue's login step: greeting, credentials, confirmation (:class:`LoginFailed` otherwise)."""
        queue, decode = self._login_queue, self.options.decode
        assert queue is not None and decode is not None
        deadline = time.monotonic() + login.timeout_s

        async def expect(kind: str) -> None:
            while True:
                left = deadline - time.monotonic()
                get: asyncio.Future[Any] = asyncio.ensure_future(queue.get())
                waiters: set[asyncio.Future[Any]] = {get, wire.closed}
                done, _ = await asyncio.wait(
                    waiters, timeout=max(left, 0.0), return_when=asyncio.FIRST_COMPLETED
                )
                if get not in done:
                    get.cancel()
                    why = (
                        "closed the connection"
                        if wire.closed.done()
                        else f"did not answer in {login.timeout_s:g} s"
                    )
                    raise LoginFailed(f"login: the venue {why} (waiting for {kind!r})", None, False)
                decoded = decode(get.result())
                for item in decoded if isinstance(decoded, list) else [decoded]:
                    if isinstance(item, ControlError):
                        fatal = item.code in login.fatal_codes
                        raise LoginFailed(f"login refused: {item.msg} (code {item.code})", item.code, fatal)
                    if isinstance(item, Notice) and item.kind == kind:
                        return

        if login.greeting is not None:
            await expect(login.greeting)
        for frame in login.frames:
            wire.send(frame)
        await expect(login.success)

    async def _serve(self, wire: Wire) -> Wire | None:
        """Serve ``wire`` until it dies (returns None) or is rotated away (returns its replacement)."""
        self._current = wire
        rotate_after = self.options.rotate_after_s
        rotate: asyncio.Future[Any] = (
            asyncio.ensure_future(asyncio.sleep(rotate_after))
            if rotate_after is not None
            else asyncio.get_running_loop().create_future()  # never: the venue allows no second connection
        )
        watchdog = asyncio.create_task(self._watchdog(wire))
        try:
            done, _ = await asyncio.wait({wire.closed, rotate}, return_when=asyncio.FIRST_COMPLETED)
            if rotate in done and not wire.closed.done() and not self._stopped.is_set() and rotate_after:
                replacement = await self._make_before_break(wire)
                if replacement is not None:
                    return replacement
            await asyncio.wait({wire.closed})
        finally:
            rotate.cancel()
            watchdog.cancel()
            self._current = None if self._current is wire else self._current
        self._backoff.disconnected(time.monotonic())
        if self._on_interrupted is not None and not self._stopped.is_set():
            self._on_interrupted(list(self.streams))  # whatever the venue sent meanwhile never arrived
        if not self._stopped.is_set():
            delay = self._backoff.next_delay()
            self._on_state(
                "disconnected",
                connection=self.physical_id,
                code=wire.close_code,
                reason=wire.close_reason,
                retry_in_s=round(delay, 3),
            )
            await self._sleep_or_stop(delay)
        return None

    async def _make_before_break(self, old: Wire) -> Wire | None:
        """Open the replacement, overlap until it delivers, then close the old connection."""
        old_id = self.physical_id
        self._on_state("rotating", connection=old_id)
        first = asyncio.Event()
        new = await self._connect(first)
        if new is None:
            return None
        self._current = new
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first.wait(), self.options.rotation_overlap_s)
        await asyncio.sleep(
            min(0.05, self.options.rotation_overlap_s)
        )  # in-flight frames of the old one land
        await old.close(1000, "rotated")
        self._on_state("rotated", old_connection=old_id, connection=self.physical_id)
        return new

    async def _watchdog(self, wire: Wire) -> None:
        """Declare the peer dead when neither data nor a pong arrived within ``idle_timeout_s``.

        A quiet market is not a dead peer: after half the timeout without data the watchdog pings (one
        control message, well inside Binance's 5 per second) and only a missing pong ends the connection.
        """
        timeout = self.options.idle_timeout_s
        half_ns = int(timeout * 1e9 / 2)
        while not wire.closed.done():
            await asyncio.sleep(timeout / 4)
            if time.monotonic_ns() - self.last_frame_ns < half_ns:
                continue
            try:
                await asyncio.wait_for(wire.ping(), timeout / 2)
            except Exception:  # no pong in time, or the ping could not even be sent: the peer is gone
                if wire.closed.done():
                    return
                idle = time.monotonic_ns() - self.last_frame_ns
                self._on_state("dead_peer", connection=self.physical_id, idle_s=round(idle / 1e9, 3))
                wire.abort()
                return
            self.last_frame_ns = max(self.last_frame_ns, time.monotonic_ns() - half_ns)

    async def _sleep_or_stop(self, seconds: float) -> bool:
        """Sleep; True when the connection was stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), seconds)
        return self._stopped.is_set()
