"""The running reference feed: one or more venues on one event loop, delivering into one path.

``async with Feed(settings) as feed:`` starts one :class:`~feed.venue_feed.VenueFeed` per configured venue
(each with its own connections, limits, backoff, recovery and books) and delivers every
:class:`~feed.events.FeedEvent` they produce, in order, to subscribers (``feed.subscribe()`` async
iterators with bounded buffers), callbacks, the JSON Lines journal and the downstream hub. Rejected frames
go to the dead letter queue; every venue's counters go to one Prometheus registry, labelled by venue.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from feed import journal, registry
from feed.adapter import BookView
from feed.buffer import BoundedBuffer, OverflowPolicy
from feed.config import FeedSettings
from feed.dlq import DeadLetterQueue
from feed.engine import Counters, DeadLetter, EngineSettings
from feed.events import HEADER_LINE, FeedEvent, to_json_line
from feed.metrics import BufferState, FeedMetrics, FeedState, StreamState
from feed.venue_feed import VenueFeed

TICK_MAX_S = 0.1
STALL_S = 0.1
"""A tick that comes this much later than it was due means the feed itself was not running (a GC pause,
a descheduled VM, a SIGSTOP, a loaded machine): what the venues sent meanwhile is still unread."""
STALL_GRACE_S = 0.1
"""After such a stall, how long the I/O gets to read that backlog before anything time-based is judged
(staleness, reorder hold windows, snapshot retries): the feed's own stall is not reported as the venue's."""
log = logging.getLogger(__name__)


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
                now = time.monotonic_ns()
                return FeedEvent(
                    type="gap",
                    venue="",
                    recv_ns=now,
                    deliver_ns=now,
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


class Feed:
    """A running reference feed over every venue of its settings (async context manager)."""

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
        engine_settings = {
            venue.name: EngineSettings(
                reorder_window_ns=int(venue.reorder_window_ms * 1e6),
                backfill=venue.backfill,
                max_held=settings.buffer_capacity,
                diff_buffer_capacity=settings.buffer_capacity,
                stale_factor=venue.stale_factor,
                stale_floor_s=venue.stale_floor_s,
                stale_ceiling_s=venue.stale_ceiling_s,
            )
            for venue in settings.venue_settings
        }
        self.venues: dict[str, VenueFeed] = {}
        for index, venue in enumerate(settings.venue_settings):
            self.venues[venue.name] = VenueFeed(
                venue,
                registry.adapter(venue.venue),
                engine_settings[venue.name],
                deliver=self._dispatch,
                dead_letter=self._dead_letter,
                on_connection=self._on_connection,
                seed=None if seed is None else seed + index,
            )
            self.metrics.add_venue(venue.name, venue.venue)
        self._flushed: dict[str, Counters] = {name: Counters() for name in self.venues}
        self._flushed_weight: dict[str, int] = {}
        self._subscriptions: list[Subscription] = []
        self._callbacks: list[Callable[[FeedEvent], None]] = []
        self.retained: list[FeedEvent] = []
        self.allocations_at_start: tracemalloc.Snapshot | None = None
        if settings.debug_retain_events:  # a deliberate leak for testing the memory check
            self._callbacks.append(self.retained.append)
        self._jsonl: IO[bytes] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.metrics_port: int | None = None
        self.delivered = 0
        self.callback_errors = 0
        self._wall_minus_mono_ns = time.time_ns() - time.monotonic_ns()
        self._latency = {
            name: (
                self.metrics.exchange_to_receive.labels(name),
                self.metrics.receive_to_delivery.labels(name),
            )
            for name in self.venues
        }
        self.metrics.set_state_source(self._metrics_state)

    # -- lifecycle -----------------------------------------------------------------------------------

    async def __aenter__(self) -> Feed:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Open sinks, connect and subscribe every configured stream of every venue."""
        s = self.settings
        point: journal.ResumePoint | None = None
        if s.jsonl is not None and s.resume:
            # Validated before anything is opened or cut: a journal that cannot be trusted is refused.
            point = journal.resume_point(Path(s.jsonl))
        if self._own_dlq and s.dlq_path is not None:
            self.dlq = DeadLetterQueue(s.dlq_path)
        if s.debug_tracemalloc:
            tracemalloc.start(1)
            self.allocations_at_start = tracemalloc.take_snapshot()
        if s.jsonl is not None:
            journal_path = Path(s.jsonl)
            if s.resume:
                journal.open_for_append(journal_path)
            # once at start; closed in stop()
            self._jsonl = journal.open_sink(journal_path, append=s.resume)
            if self._jsonl.tell() == 0:
                self._jsonl.write(HEADER_LINE)
        if s.metrics_port is not None:
            self.metrics_port = self.metrics.serve(s.metrics_host, s.metrics_port)
        try:
            for venue in self.venues.values():
                await venue.start(point)
        except BaseException:
            await self.stop()  # a refused resume (or a failed start) leaves nothing open
            raise
        self._ticker = asyncio.create_task(self._tick_loop(), name="feed-ticker")

    @property
    def ready(self) -> bool:
        """Every venue connected and subscribed (each stream accepted by its venue)."""
        return all(venue.ready for venue in self.venues.values())

    async def wait_ready(self, poll_s: float = 0.02) -> None:
        """Until :attr:`ready` (a feed that cannot connect keeps retrying with its backoff meanwhile)."""
        while not self.ready:
            await asyncio.sleep(poll_s)

    async def stop(self) -> None:
        """Close connections, finish background work, flush and close sinks."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        await asyncio.gather(*(v.stop() for v in self.venues.values()), return_exceptions=True)
        for sub in list(self._subscriptions):
            sub.close()
        self._flush_counters()
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
        """Call ``callback`` synchronously for every event (an exception it raises is logged and counted;
        the other consumers still get the event, and the feed's state is untouched by it)."""
        self._callbacks.append(callback)

    def venue(self, name: str | None = None) -> VenueFeed:
        """A venue by name (``None``: the only one)."""
        if name is None:
            if len(self.venues) != 1:
                raise ValueError(f"the feed has {len(self.venues)} venues: name one of {sorted(self.venues)}")
            return next(iter(self.venues.values()))
        return self.venues[name]

    async def add_symbols(self, symbols: list[str], venue: str | None = None) -> list[str]:
        """Ingest more symbols on a venue (with its configured stream kinds); returns the new streams."""
        target = self.venue(venue)
        more = target.settings.model_copy(update={"symbols": list(symbols)})
        target.adapter.validate(more)  # the venue's grammar: normalizes the symbols (case, duplicates)
        return await target.add_streams(target.adapter.stream_specs(more))

    async def remove_symbols(self, symbols: list[str], venue: str | None = None) -> list[str]:
        """Stop ingesting symbols on a venue; the others are not touched."""
        target = self.venue(venue)
        wanted = {s.upper() for s in symbols}
        gone = [n for n, st in target.engine.streams.items() if st.spec.symbol.upper() in wanted]
        return await target.remove_streams(gone)

    def instruments(self) -> dict[str, tuple[str, str]]:
        """Every instrument the feed ingests: id -> (venue, symbol)."""
        out: dict[str, tuple[str, str]] = {}
        for name, venue in self.venues.items():
            for state in list(venue.engine.streams.values()):
                out[state.instrument] = (name, state.spec.symbol)
        return out

    def book_stream(self, instrument: str) -> str | None:
        """The stream that keeps an instrument's book (None: the instrument has no book)."""
        found = self._book(instrument)
        return found.stream if found is not None else None

    def book(self, instrument: str, depth: int | None = None) -> BookView | None:
        """The local book of ``instrument`` while it is in sync, else None."""
        found = self._book(instrument)
        if found is None or not found.sync.synced:
            return None
        return found.sync.view(depth)

    def book_id(self, instrument: str) -> int | None:
        """The id of the last update applied to ``instrument``'s book while in sync, else None (cheap)."""
        found = self._book(instrument)
        return found.sync.last_update_id() if found is not None else None

    def book_synced(self, instrument: str) -> bool | None:
        """Whether an instrument's book is in sync (None: it has no book)."""
        found = self._book(instrument)
        return None if found is None else found.sync.synced

    def _book(self, instrument: str) -> Any:
        venue_name, _, symbol = instrument.partition(":")
        venue = self.venues.get(venue_name)
        return venue.engine.books.get(symbol) if venue is not None else None

    def stats(self) -> dict[str, Any]:
        """Counters for reports: totals over every venue, and each venue's own."""
        venues = {name: v.stats() for name, v in self.venues.items()}
        totals = {
            key: sum(v[key] for v in venues.values())
            for key in (
                "rejected",
                "duplicates_dropped",
                "lost_ids",
                "connections",
                "connects",
                "rest_requests",
                "rest_throttled",
                "resyncs",
            )
        }
        return {
            "delivered": self.delivered,
            **totals,
            "buffer_high_water": max((v["buffer_high_water"] for v in venues.values()), default=0),
            "buffer_capacity": self.settings.buffer_capacity,
            "callback_errors": self.callback_errors,
            "venues": venues,
        }

    # -- data path -----------------------------------------------------------------------------------

    def _dispatch(self, event: FeedEvent) -> None:
        event.deliver_ns = now = time.monotonic_ns()
        self.delivered += 1
        histograms = self._latency.get(event.venue)
        if histograms is not None and event.recv_ns:
            if event.exchange_ns is not None and not event.backfilled:
                lag = (event.recv_ns + self._wall_minus_mono_ns - event.exchange_ns) / 1e9
                histograms[0].observe(lag if lag > 0 else 0.0)
            histograms[1].observe((now - event.recv_ns) / 1e9)
        for sub in self._subscriptions:
            sub.push(event)
        for callback in self._callbacks:
            try:
                callback(event)
            except Exception:
                self.callback_errors += 1
                if self.callback_errors <= 10:
                    log.exception("a feed event callback raised (event delivered to the others)")
        if self._jsonl is not None:
            self._jsonl.write(to_json_line(event))

    def _dead_letter(self, venue: str, letter: DeadLetter) -> None:
        if self.dlq is not None:
            self.dlq.put(venue, letter.stream, letter.reason, letter.raw)

    def _on_connection(self, venue: str, state: str) -> None:
        m = self.metrics
        if state == "connected":
            m.connection_attempts.labels(venue).inc()
            m.connections_open.labels(venue).inc()
        elif state == "connect_failed":
            m.connection_attempts.labels(venue).inc()
        elif state == "disconnected":  # a dead peer is aborted and then reported disconnected too
            m.connections_open.labels(venue).dec()
            m.reconnects.labels(venue).inc()
        elif state == "rotated":  # the replacement counted as connected; the old one is closed
            m.connections_open.labels(venue).dec()

    # -- housekeeping --------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            now = time.monotonic_ns()
            deadlines = [d for v in self.venues.values() if (d := v.engine.next_deadline_ns()) is not None]
            deadline = min(deadlines, default=None)
            wait = TICK_MAX_S if deadline is None else min(max((deadline - now) / 1e9, 0.001), TICK_MAX_S)
            await asyncio.sleep(wait)
            if time.monotonic_ns() - now > (wait + STALL_S) * 1e9:
                await asyncio.sleep(STALL_GRACE_S)
            now = time.monotonic_ns()
            for venue in self.venues.values():
                venue.tick(now)
            self._flush_counters()
            if self.dlq is not None:
                self.dlq.flush()
            if self._jsonl is not None:
                self._jsonl.flush()

    def _flush_counters(self) -> None:
        """Move what each engine counted since the last flush into the Prometheus counters."""
        m = self.metrics
        for name, venue in self.venues.items():
            now, before = venue.engine.counters, self._flushed[name]
            _inc(m.bytes.labels(name), now.bytes - before.bytes)
            _inc(m.duplicates_dropped.labels(name), now.duplicates - before.duplicates)
            _inc(m.resyncs.labels(name), now.resyncs - before.resyncs)
            _inc(m.backfilled_events.labels(name), now.backfilled - before.backfilled)
            _inc(m.dlq_frames.labels(name), now.rejected_total - before.rejected_total)
            _inc(
                m.buffer_dropped_events.labels("book_diffs"),
                now.book_diffs_dropped - before.book_diffs_dropped,
            )
            for kind, count in now.messages.items():
                _inc(m.messages.labels(name, kind), count - before.messages.get(kind, 0))
            for reason, count in now.rejected.items():
                _inc(m.decode_errors.labels(name, reason), count - before.rejected.get(reason, 0))
            for kind, count in now.gaps.items():
                _inc(m.gaps.labels(name, kind), count - before.gaps.get(kind, 0))
            for kind, count in now.lost_ids.items():
                _inc(m.lost_ids.labels(name, kind), count - before.lost_ids.get(kind, 0))
            if venue.recovery is not None:
                spent = venue.recovery.weight_used
                _inc(m.rest_weight_used.labels(name), spent - self._flushed_weight.get(name, 0))
                self._flushed_weight[name] = spent
            m.stale_streams.labels(name).set(len(venue.engine.staleness.stale()))
            self._flushed[name] = copy.deepcopy(now)

    def _metrics_state(self) -> FeedState:
        """Per-stream staleness and the fullest buffer of each kind, for a metrics scrape.

        Runs on the metrics server's thread: it only reads (copies of) the engines' containers.
        """
        mono_to_wall_s = time.time() - time.monotonic()
        streams: list[StreamState] = []
        diffs: list[tuple[int, int]] = []
        held: list[tuple[int, int]] = []
        capacity = self.settings.buffer_capacity
        for name, venue in list(self.venues.items()):
            engine, tracker = venue.engine, venue.engine.staleness
            for stream, state in list(engine.streams.items()):
                try:
                    last_ns, threshold_ns = tracker.last_message_ns(stream), tracker.threshold_ns(stream)
                except KeyError:  # unwatched meanwhile
                    continue
                streams.append(
                    StreamState(
                        name,
                        state.spec.symbol,
                        stream,
                        tracker.is_stale(stream),
                        last_ns / 1e9 + mono_to_wall_s,
                        threshold_ns / 1e9,
                    )
                )
                if state.sequencer is not None:
                    held.append((state.sequencer.held, state.sequencer.max_held))
            diffs += [(b.sync.buffered(), capacity) for b in list(engine.books.values())]
        subscribers = [(len(s._buffer), s._buffer.capacity) for s in list(self._subscriptions)]
        buffers = []
        for kind, fills in (("subscriber", subscribers), ("book_diffs", diffs), ("reorder_hold", held)):
            depth, cap = max(fills, key=lambda f: f[0] / f[1], default=(0, capacity))
            buffers.append(BufferState(kind, depth, cap))
        return FeedState(streams, buffers)


def _inc(counter: Any, amount: int) -> None:
    if amount > 0:
        counter.inc(amount)
