"""The live Binance spot feed: the sans-I/O core wired to WebSockets, REST, subscribers and sinks.

``async with BinanceSpotFeed(settings) as feed:`` connects (pool of combined-stream connections), keeps
books and trade streams exact (snapshots and backfill over REST, inside the weight budget), and delivers
:class:`~feed.events.FeedEvent` objects to subscribers (``feed.subscribe()`` async iterators with bounded
buffers), callbacks and the optional JSON Lines file. Rejected frames go to the dead letter queue.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from feed import journal
from feed.binance_spot import codec
from feed.binance_spot.book_sync import OrderBook
from feed.binance_spot.connection import ConnectionOptions
from feed.binance_spot.core import VENUE, BackfillRequest, CoreSettings, FeedCore, SnapshotRequest
from feed.binance_spot.pool import ConnectionPool, backoff_factory
from feed.binance_spot.rest_client import RestClient, RestError
from feed.buffer import BoundedBuffer, OverflowPolicy
from feed.config import FeedSettings
from feed.dlq import DeadLetterQueue
from feed.events import FeedEvent, to_json_line
from feed.limits import AttemptBudget, WeightBudget
from feed.metrics import BufferState, FeedMetrics, FeedState, StreamState

TICK_MAX_S = 0.1
RESUBSCRIBE_BASE_S = 1.0


class Subscription:
    """An async iterator of events with a bounded buffer; events dropped by its policy become a gap event."""

    def __init__(
        self,
        capacity: int,
        policy: OverflowPolicy,
        on_close: Callable[[Subscription], None],
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self._buffer: BoundedBuffer[FeedEvent] = BoundedBuffer(capacity, policy)
        self._ready = asyncio.Event()
        self._on_close = on_close
        self._on_drop = on_drop
        self._unreported_drops = 0
        self.closed = False

    @property
    def dropped(self) -> int:
        """Events this subscriber lost to its overflow policy (each loss is reported as a gap event)."""
        return self._buffer.dropped

    def push(self, event: FeedEvent) -> None:
        """Called by the feed for every event."""
        if self._buffer.push(event) is not None:
            self._unreported_drops += 1
            if self._on_drop is not None:
                self._on_drop()
        self._ready.set()

    def __aiter__(self) -> AsyncIterator[FeedEvent]:
        return self

    async def __anext__(self) -> FeedEvent:
        while True:
            if self._unreported_drops:
                count, self._unreported_drops = self._unreported_drops, 0
                return FeedEvent(
                    type="gap",
                    venue=VENUE,
                    recv_ns=time.monotonic_ns(),
                    deliver_ns=time.monotonic_ns(),
                    detail={"reason": "subscriber buffer overflow", "count": count},
                )
            if self._buffer:
                return self._buffer.popleft()
            if self.closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()

    def close(self) -> None:
        """Stop receiving events (pending ones can still be read)."""
        self.closed = True
        self._ready.set()
        self._on_close(self)


class BinanceSpotFeed:
    """A running reference feed for Binance spot."""

    def __init__(
        self,
        settings: FeedSettings,
        *,
        metrics: FeedMetrics | None = None,
        dlq: DeadLetterQueue | None = None,
        seed: int | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or FeedMetrics()
        self.dlq = dlq
        self._own_dlq = dlq is None and settings.dlq_path is not None
        self.core = FeedCore(
            emit=self._dispatch,
            clock=time.monotonic_ns,
            dead_letter=self._dead_letter,
            metrics=self.metrics,
            settings=CoreSettings(
                reorder_window_ns=int(settings.reorder_window_ms * 1e6),
                backfill=settings.backfill,
                max_held=settings.buffer_capacity,
                diff_buffer_capacity=settings.buffer_capacity,
                stale_factor=settings.stale_factor,
                stale_floor_s=settings.stale_floor_s,
                stale_ceiling_s=settings.stale_ceiling_s,
            ),
            wall_minus_mono_ns=time.time_ns() - time.monotonic_ns(),
        )
        self.rest = RestClient(
            settings.rest_url,
            WeightBudget(settings.rest_weight_per_minute),
            timeout_s=settings.rest_timeout_s,
            metrics=self.metrics,
        )
        self.pool = ConnectionPool(
            ConnectionOptions(
                ws_url=settings.ws_url,
                idle_timeout_s=settings.idle_timeout_s,
                ping_interval_s=settings.ping_interval_s,
                rotate_after_s=settings.rotate_after_s,
                rotation_overlap_s=settings.rotation_overlap_s,
                control_messages_per_second=settings.control_messages_per_second,
                client=settings.ws_client,
            ),
            max_streams=settings.max_streams_per_connection,
            attempts=AttemptBudget(settings.connection_attempts_per_5min, 300.0),
            backoff_factory=backoff_factory(
                settings.backoff_base_s, settings.backoff_cap_s, settings.backoff_stable_after_s, seed
            ),
            on_frame=self._on_frame,
            on_state=self._on_connection_state,
            on_interrupted=self.core.interrupted,
        )
        self._subscriptions: list[Subscription] = []
        self._callbacks: list[Callable[[FeedEvent], None]] = []
        self.retained: list[FeedEvent] = []
        self.allocations_at_start: tracemalloc.Snapshot | None = None
        if settings.debug_retain_events:  # a deliberate leak for testing the memory check
            self._callbacks.append(self.retained.append)
        self._jsonl: IO[bytes] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        self._backfill_tasks: dict[str, asyncio.Task[None]] = {}
        self._resubscribe_tries: dict[tuple[str, ...], int] = {}
        self.metrics_port: int | None = None
        self.delivered = 0
        self.metrics.set_state_source(self._metrics_state)

    # -- lifecycle -----------------------------------------------------------------------------------

    async def __aenter__(self) -> BinanceSpotFeed:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Open sinks, connect and subscribe every configured stream."""
        s = self.settings
        if self._own_dlq and s.dlq_path is not None:
            self.dlq = DeadLetterQueue(s.dlq_path)
        if s.debug_tracemalloc:
            tracemalloc.start(1)
            self.allocations_at_start = tracemalloc.take_snapshot()
        resume_from: dict[str, int] = {}
        if s.jsonl is not None:
            journal_path = Path(s.jsonl)
            journal_path.parent.mkdir(parents=True, exist_ok=True)
            if s.resume:
                journal.truncate_torn_tail(journal_path)
                resume_from = journal.last_ids(journal_path)
            # once at start; closed in stop()
            self._jsonl = journal_path.open("ab" if s.resume else "wb")  # noqa: ASYNC230
        if s.metrics_port is not None:
            self.metrics_port = self.metrics.serve(s.metrics_host, s.metrics_port)
        await self.rest.start()
        streams = s.stream_names()
        self.core.watch(streams, time.monotonic_ns())
        if resume_from:
            self.core.resume(resume_from)
        await self.pool.add(streams)
        self._ticker = asyncio.create_task(self._tick_loop(), name="feed-ticker")

    async def stop(self) -> None:
        """Close connections, finish background work, flush and close sinks."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        await self.pool.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.rest.close()
        for sub in list(self._subscriptions):
            sub.close()
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
        if self.dlq is not None:
            self.dlq.flush()
            if self._own_dlq:
                self.dlq.close()
        self.metrics.close()

    # -- public API ----------------------------------------------------------------------------------

    def subscribe(self, capacity: int | None = None, policy: OverflowPolicy | None = None) -> Subscription:
        """A new async iterator of every event from now on."""
        sub = Subscription(
            capacity or self.settings.buffer_capacity,
            policy or OverflowPolicy(self.settings.overflow_policy),
            self._subscriptions.remove,
            self.metrics.buffer_dropped_events.labels("subscriber").inc,
        )
        self._subscriptions.append(sub)
        return sub

    def on_event(self, callback: Callable[[FeedEvent], None]) -> None:
        """Call ``callback`` synchronously for every event."""
        self._callbacks.append(callback)

    async def add_symbols(self, symbols: list[str]) -> list[str]:
        """Start ingesting more symbols (with the configured stream kinds); returns the new stream names."""
        names = [f"{sym.lower()}@{kind}" for sym in symbols for kind in self.settings.streams]
        new = [n for n in names if n not in self.core.streams]
        self.core.watch(new, time.monotonic_ns())
        await self.pool.add(new)
        return new

    async def remove_symbols(self, symbols: list[str]) -> list[str]:
        """Stop ingesting symbols; the others are not touched."""
        prefixes = tuple(f"{sym.lower()}@" for sym in symbols)
        gone = [n for n in self.core.streams if n.startswith(prefixes)]
        await self.pool.remove(gone)
        self.core.unwatch(gone)
        return gone

    def book(self, symbol: str) -> OrderBook | None:
        """The local book of ``symbol`` while it is in sync, else None."""
        state = self.core.books.get(symbol.upper())
        return state.sync.book if state is not None and state.sync.synced else None

    def book_band(self, symbol: str) -> tuple[str, str] | None:
        """The price range of the snapshot the book of ``symbol`` was last synced from.

        Binance's procedure makes the book exact inside that range; deeper levels that were never in a
        snapshot can be missing (a larger ``snapshot_limit`` widens the range).
        """
        state = self.core.books.get(symbol.upper())
        return state.band if state is not None else None

    def stats(self) -> dict[str, Any]:
        """Counters for reports."""
        return {
            "delivered": self.delivered,
            "rejected": self.core.rejected,
            "duplicates_dropped": self.core.duplicates,
            "lost_ids": self.core.lost_ids,
            "connections": len(self.pool.connections),
            "connects": sum(c.connects for c in self.pool.connections),
            "rest_requests": self.rest.requests,
            "rest_throttled": self.rest.throttled,
            "resyncs": sum(b.sync.resyncs for b in self.core.books.values()),
            "buffer_high_water": self.core.buffer_high_water,
            "buffer_capacity": self.settings.buffer_capacity,
        }

    # -- data path -----------------------------------------------------------------------------------

    def _on_frame(self, frame: bytes, recv_ns: int) -> None:
        control = self.core.on_frame(frame, recv_ns)
        if control is not None:
            self._on_control(control, recv_ns)
        if self.core.requests:
            self._serve_requests()

    def _dispatch(self, event: FeedEvent) -> None:
        self.delivered += 1
        for sub in self._subscriptions:
            sub.push(event)
        for callback in self._callbacks:
            callback(event)
        if self._jsonl is not None:
            self._jsonl.write(to_json_line(event))

    def _dead_letter(self, raw: bytes, stream: str | None, reason: str) -> None:
        if self.dlq is not None:
            self.dlq.put(VENUE, stream, reason, raw)

    def _on_control(self, message: codec.Decoded, now_ns: int) -> None:
        if isinstance(message, codec.ServerShutdown):
            self.core.connection_event("server_shutdown", now_ns, venue_time_ms=message.E)
            return
        if not isinstance(message, codec.ControlReply | codec.ControlError):
            return
        request = self.pool.take_request(message.id)
        if request is None:
            return
        conn, streams, method = request
        if isinstance(message, codec.ControlError):
            self.core.subscription_event(
                streams, False, now_ns, method=method, code=message.code, msg=message.msg
            )
            if method == "SUBSCRIBE":
                key = tuple(streams)
                tries = self._resubscribe_tries.get(key, 0) + 1
                self._resubscribe_tries[key] = tries
                delay = min(RESUBSCRIBE_BASE_S * 2 ** (tries - 1), self.settings.backoff_cap_s)
                self._spawn(self._resubscribe_later(conn, streams, delay))
        elif method == "SUBSCRIBE":
            self._resubscribe_tries.pop(tuple(streams), None)
            self.core.subscription_event(streams, True, now_ns, method=method)

    async def _resubscribe_later(self, conn: Any, streams: list[str], delay: float) -> None:
        await asyncio.sleep(delay)
        await conn.resubscribe(streams)

    def _on_connection_state(self, state: str, **detail: Any) -> None:
        if self.metrics is not None:
            if state == "connected":
                self.metrics.connection_attempts.inc()
                self.metrics.connections_open.inc()
            elif state == "connect_failed":
                self.metrics.connection_attempts.inc()
            elif state == "disconnected":  # a dead peer is aborted and then reported disconnected too
                self.metrics.connections_open.dec()
                self.metrics.reconnects.inc()
            elif state == "rotated":  # the replacement counted as connected; the old one is closed
                self.metrics.connections_open.dec()
        self.core.connection_event(state, time.monotonic_ns(), **detail)

    # -- requests from the core (REST) ---------------------------------------------------------------

    def _serve_requests(self) -> None:
        requests = self.core.requests
        while requests:
            request = requests.popleft()
            if isinstance(request, SnapshotRequest):
                if request.symbol not in self._snapshot_tasks:
                    self._snapshot_tasks[request.symbol] = self._spawn(self._fetch_snapshot(request.symbol))
            elif isinstance(request, BackfillRequest) and request.stream not in self._backfill_tasks:
                self._backfill_tasks[request.stream] = self._spawn(self._backfill(request))

    async def _fetch_snapshot(self, symbol: str) -> None:
        try:
            snapshot = await self.rest.depth(symbol, self.settings.snapshot_limit)
        except RestError as exc:
            self.core.on_snapshot_failed(symbol, str(exc), time.monotonic_ns())
        else:
            self.core.on_snapshot(symbol, snapshot, time.monotonic_ns())
        finally:
            self._snapshot_tasks.pop(symbol, None)
        self._serve_requests()

    async def _backfill(self, request: BackfillRequest) -> None:
        pages = self.settings.backfill_max_pages
        try:
            if request.kind == "aggTrade":
                agg = await self.rest.agg_trades(request.symbol, request.first_id, request.last_id, pages)
                self.core.on_backfill(request.stream, list(agg), time.monotonic_ns())
            else:
                trades = await self.rest.historical_trades(
                    request.symbol, request.first_id, request.last_id, pages
                )
                self.core.on_backfill(request.stream, list(trades), time.monotonic_ns())
        except (RestError, KeyError, TypeError, ValueError) as exc:
            self.core.on_backfill_failed(request.stream, f"{type(exc).__name__}: {exc}", time.monotonic_ns())
        finally:
            self._backfill_tasks.pop(request.stream, None)
        self._serve_requests()

    # -- housekeeping --------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            now = time.monotonic_ns()
            deadline = self.core.next_deadline_ns()
            wait = TICK_MAX_S if deadline is None else min(max((deadline - now) / 1e9, 0.001), TICK_MAX_S)
            await asyncio.sleep(wait)
            self.core.tick(time.monotonic_ns())
            if self.core.requests:
                self._serve_requests()
            if self.dlq is not None:
                self.dlq.flush()
            if self._jsonl is not None:
                self._jsonl.flush()

    def _metrics_state(self) -> FeedState:
        """Per-stream staleness and the fullest buffer of each kind, for a metrics scrape.

        Runs on the metrics server's thread: it only reads (copies of) the core's containers.
        """
        core, tracker = self.core, self.core.staleness
        mono_to_wall_s = time.time() - time.monotonic()
        streams: list[StreamState] = []
        for name in list(core.streams):
            try:
                last_ns, threshold_ns = tracker.last_message_ns(name), tracker.threshold_ns(name)
            except KeyError:  # unwatched meanwhile
                continue
            symbol, _, stream = name.partition("@")
            streams.append(
                StreamState(
                    symbol, stream, tracker.is_stale(name), last_ns / 1e9 + mono_to_wall_s, threshold_ns / 1e9
                )
            )
        subscribers = [(len(s._buffer), s._buffer.capacity) for s in list(self._subscriptions)]
        diffs = [(len(b.sync.buffer), core.settings.diff_buffer_capacity) for b in list(core.books.values())]
        held = [
            (s.sequencer.held, s.sequencer.max_held)
            for s in list(core.streams.values())
            if s.sequencer is not None
        ]
        default = {
            "subscriber": self.settings.buffer_capacity,
            "book_diffs": core.settings.diff_buffer_capacity,
            "reorder_hold": core.settings.max_held,
        }
        buffers = []
        for kind, fills in (("subscriber", subscribers), ("book_diffs", diffs), ("reorder_hold", held)):
            depth, capacity = max(fills, key=lambda f: f[0] / f[1], default=(0, default[kind]))
            buffers.append(BufferState(kind, depth, capacity))
        return FeedState(streams, buffers)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
