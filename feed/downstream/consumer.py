"""One downstream consumer: a bounded queue in front of its socket, and the slow-consumer policy.

Events reach a consumer as shared, already-encoded bytes. While its socket keeps up (queue empty, no
back-pressure) they are written at once; otherwise they wait in the consumer's queue, which holds at most
``capacity`` events. When the queue is full the oldest event is dropped and accounted per stream, and the
next message the consumer receives starts with one ``gap`` event per stream carrying the dropped id range
and count (exact: nothing of that stream is written in between). With the ``disconnect`` policy a
consumer whose queue stays full for ``grace_s`` seconds is also closed (code 1008). Other consumers and
the feed never wait for a slow one.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from feed.downstream.metrics import DownstreamMetrics
from feed.downstream.protocol import encode
from feed.events import FeedEvent

log = logging.getLogger(__name__)

Entry = tuple[bytes, FeedEvent | None]
"""(encoded message, the event it encodes); no event marks a control message (a reply or a snapshot),
which is never dropped."""


class Batch:
    """Entries handed to one or many consumers as one message: the payload and the latency inputs are
    computed once, however many consumers get the batch (the hub gives every consumer with the same share
    of a flush the same batch)."""

    __slots__ = ("_payload", "entries", "events", "exchange_s")

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self.events = 0
        """How many of the entries are events (the rest are control messages)."""
        self.exchange_s: list[float] = []
        """Venue event times (seconds) of the events that carry one."""
        for _, event in entries:
            if event is not None:
                self.events += 1
                if event.exchange_ns is not None:
                    self.exchange_s.append(event.exchange_ns / 1e9)
        self._payload: bytes | None = None

    @property
    def payload(self) -> bytes:
        """The message: the entries' JSON objects separated by newlines."""
        if self._payload is None:
            entries = self.entries
            self._payload = entries[0][0] if len(entries) == 1 else b"\n".join([e[0] for e in entries])
        return self._payload


MAX_PENDING_CONTROL = 256
SLOW_CLOSE_CODE = 1008
GAP_REASON = "consumer queue overflow"


@dataclass
class _Gap:
    """Events of one stream dropped from a consumer's queue since its last write."""

    source: FeedEvent  # the first dropped event (where the gap is)
    first_id: int | None
    last_id: int | None
    count: int


class SlowConsumerPolicy(enum.StrEnum):
    """What a full consumer queue does (a ``str`` enum: the values are the config spellings)."""

    DROP_OLDEST = "drop_oldest"
    """Drop the oldest queued event and report it in a gap event; never disconnect."""
    DISCONNECT = "disconnect"
    """Drop oldest as above, and close the consumer once its queue has stayed full for ``grace_s``."""


class Sink(Protocol):
    """Where a consumer's messages go (a WebSocket connection; a list in unit tests)."""

    @property
    def open(self) -> bool:
        """Whether messages can still be written."""

    def writable(self) -> bool:
        """Open and not applying back-pressure (a write now would not grow an already full buffer)."""

    def write(self, payload: bytes) -> None:
        """Write one message (synchronously, into the transport's buffer)."""

    async def drain(self) -> None:
        """Wait until the transport's buffer is below its low-water mark (or the connection is lost)."""

    def close(self, code: int, reason: str) -> None:
        """Start closing the connection."""


class Consumer:
    """A connected consumer's queue, writer task and drop accounting."""

    def __init__(
        self,
        sink: Sink,
        *,
        capacity: int,
        policy: SlowConsumerPolicy = SlowConsumerPolicy.DROP_OLDEST,
        grace_s: float = 5.0,
        max_batch: int = 500,
        metrics: DownstreamMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        name: str = "",
    ) -> None:
        if capacity < 1 or max_batch < 1:
            raise ValueError("capacity and max_batch must be >= 1")
        self.sink = sink
        self.capacity = capacity
        self.policy = SlowConsumerPolicy(policy)
        self.grace_s = grace_s
        self.max_batch = max_batch
        self.metrics = metrics or DownstreamMetrics()
        self.name = name
        self._clock = clock
        self._wall = wall
        self._queue: deque[Entry] = deque()
        self._data = 0  # droppable entries in the queue
        self._control = 0
        self._gaps: dict[tuple[str, str], _Gap] = {}  # (venue, stream) -> what was dropped
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.full_since: float | None = None
        self.closed = False
        self.close_reason: str | None = None
        self.sent = 0
        """Events written to the socket."""
        self.dropped = 0
        """Events dropped by the overflow policy (every one reported in a gap event)."""
        self.high_water = 0
        """Most events ever queued at once."""

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer task (needs a running event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._writer(), name=f"downstream-writer-{self.name}")

    async def stop(self) -> None:
        """Stop the writer task; queued events are discarded."""
        self.closed = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def disconnect(self, reason: str) -> None:
        """Close the consumer's connection (slow-consumer policy, or a misbehaving client)."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self._queue.clear()
        self._data = self._control = 0
        self._wake.set()
        self.sink.close(SLOW_CLOSE_CODE, reason[:120])

    @property
    def queued(self) -> int:
        """Events (not control messages) waiting in the queue."""
        return self._data

    # -- input -----------------------------------------------------------------------------------------

    def deliver(self, batch: Batch | list[Entry]) -> None:
        """Hand over events/messages in order: written now when the socket keeps up, else queued."""
        if self.closed:
            return
        if not isinstance(batch, Batch):
            batch = Batch(batch)
        if not self._queue and self.sink.writable():
            self._write(batch)
            return
        for entry in batch.entries:
            self._enqueue(entry)
        self._wake.set()

    def send_control(self, message: bytes) -> None:
        """Queue a reply or snapshot behind what is already queued (never dropped)."""
        self.deliver(Batch([(message, None)]))

    def _enqueue(self, entry: Entry) -> None:
        self._queue.append(entry)
        if entry[1] is None:
            self._control += 1
            if self._control > MAX_PENDING_CONTROL:
                self.disconnect(f"more than {MAX_PENDING_CONTROL} replies pending: the client does not read")
            return
        self._data += 1
        if self._data > self.high_water:
            self.high_water = self._data
        if self._data > self.capacity:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        queue = self._queue
        held: list[Entry] = []
        victim = queue.popleft()
        while victim[1] is None:  # control messages are kept, in order
            held.append(victim)
            victim = queue.popleft()
        if held:
            queue.extendleft(reversed(held))
        self._data -= 1
        self.dropped += 1
        self.metrics.events_dropped += 1
        event = victim[1]
        assert event is not None
        key = (event.venue, event.stream)
        gap = self._gaps.get(key)
        if gap is None:
            self._gaps[key] = _Gap(event, event.id, event.id, 1)
        else:
            if gap.first_id is None:
                gap.first_id = event.id
            if event.id is not None:
                gap.last_id = event.id
            gap.count += 1
        now = self._clock()
        if self.full_since is None:
            self.full_since = now
        elif self.policy is SlowConsumerPolicy.DISCONNECT and now - self.full_since >= self.grace_s:
            self.metrics.slow_disconnects += 1
            self.disconnect(f"slow consumer: queue full for {self.grace_s:g} s")

    # -- output ----------------------------------------------------------------------------------------

    def _gap_entries(self) -> list[Entry]:
        out: list[Entry] = []
        for gap in self._gaps.values():
            source = gap.source
            message = {
                "type": "gap",
                "venue": source.venue,
                "channel": source.channel,
                "instrument": source.instrument,
                "symbol": source.symbol,
                "stream": source.stream,
                "kind": source.kind,
                "first_id": gap.first_id,
                "id": gap.last_id,
                "detail": {"reason": GAP_REASON, "count": gap.count},
            }
            out.append((encode(message), None))
        self._gaps.clear()
        return out

    def _write(self, batch: Batch) -> None:
        if self._gaps:
            batch = Batch(self._gap_entries() + batch.entries)
        self.sink.write(batch.payload)
        metrics = self.metrics
        if batch.exchange_s:
            now_s = self._wall()
            observe = metrics.exchange_to_send.observe
            for exchange_s in batch.exchange_s:
                observe(now_s - exchange_s if now_s > exchange_s else 0.0)
        self.sent += batch.events
        metrics.events_sent += batch.events
        metrics.frames_sent += 1

    async def _writer(self) -> None:
        queue = self._queue
        try:
            while not self.closed:
                if not queue:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                await self.sink.drain()
                if self.closed or not self.sink.open:
                    break
                entries: list[Entry] = []
                while queue and len(entries) < self.max_batch:
                    entry = queue.popleft()
                    if entry[1] is None:
                        self._control -= 1
                    else:
                        self._data -= 1
                    entries.append(entry)
                self._write(Batch(entries))
                if self._data <= self.capacity // 2:
                    self.full_since = None
                await asyncio.sleep(0)
        except Exception:  # a broken connection ends this consumer, never the feed
            log.exception("downstream writer of %s failed", self.name)
            self.disconnect("internal error while writing")
