"""What each toxic does to the chunks of one link, as an asyncio coroutine per (toxic, link).

A link runs a chain of :class:`Stub` s; each stub reads chunks (what one socket read returned, with the
time it was read) from its input channel, runs its toxic's coroutine and puts chunks on its output (the
next stub's input, or the link's sink). ``None`` on a channel means the stream ended; closing a stub
passes the end on, which ends the connection.

Interrupting a stub (to splice a toxic in or out, or to apply an update) cancels its coroutine; whatever
the toxic was holding (``stub.held``) is forwarded at once, so no data is dropped, and the stub is run
again, which draws its toxicity again. Semantics follow toxiproxy-server v2.12.0 (see the behaviour
reference); the registry maps each toxic type to its coroutine.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from faultproxy.link import Link
    from faultproxy.model import Toxic

INT64_MASK = (1 << 64) - 1
MAX_SLEEP_S = 10.0 * 365 * 86400  # longer than any test or run; asyncio timers need a finite delay


class Chunk:
    """One socket read: its bytes and the loop time it was read (moved on by latency toxics)."""

    __slots__ = ("data", "ts")

    def __init__(self, data: bytes, ts: float) -> None:
        self.data = data
        self.ts = ts


class Output(Protocol):
    """Where a stub puts chunks: a :class:`Channel` or the link's sink."""

    def put(self, chunk: Chunk | None) -> None:
        """Queue (or write) a chunk; None ends the stream."""


class Channel:
    """An unbounded FIFO between two stubs; once ``None`` was put it stays closed (like a Go channel)."""

    __slots__ = ("closed", "items", "link", "waiter")

    def __init__(self, link: Link) -> None:
        self.items: deque[Chunk] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.link = link

    def put(self, chunk: Chunk | None) -> None:
        """Queue a chunk (None closes the channel); wakes the reader."""
        if self.closed:
            return
        if chunk is None:
            self.closed = True
        else:
            self.items.append(chunk)
            self.link.backlog += 1
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Chunk | None:
        """The next chunk, or None once closed and empty. Cancelling never loses a chunk."""
        while not self.items:
            if self.closed:
                return None
            waiter = self.waiter = self.link.loop.create_future()
            try:
                await waiter
            finally:
                self.waiter = None
        chunk = self.items.popleft()
        self.link.dequeued()
        return chunk

    def take_all(self) -> list[Chunk]:
        """Remove and return every queued chunk (used when a stub is spliced out)."""
        items = list(self.items)
        self.items.clear()
        self.link.backlog -= len(items)
        return items


class Stub:
    """One toxic running on one link."""

    __slots__ = ("closed", "held", "input", "link", "output", "shielded", "state", "task", "toxic")

    def __init__(self, link: Link, toxic: Toxic, output: Output) -> None:
        self.link = link
        self.toxic = toxic
        self.input = Channel(link)
        self.output: Output = output
        self.task: asyncio.Task[None] | None = None
        self.held: list[Chunk] = []
        self.state: dict[str, int] = {"transmitted": 0}
        self.closed = False
        self.shielded = False

    def run(self) -> None:
        """Start (or restart) the toxic on this link, drawing its toxicity."""
        active = self.link.rng.random() < self.toxic.toxicity
        behaviour = BEHAVIOURS[self.toxic.type] if active else noop
        self.task = self.link.loop.create_task(behaviour(self, self.toxic.attributes))

    def interrupt(self) -> bool:
        """Stop the toxic, forwarding what it held; False when the stub is closed (or closing)."""
        if self.closed or self.shielded:
            return False
        self.cancel()
        held, self.held = self.held, []
        for chunk in held:
            self.output.put(chunk)
        return True

    def cancel(self) -> None:
        """Cancel the coroutine without forwarding anything (connection teardown)."""
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()

    def close(self) -> None:
        """End this stub's output (the connection closes once the end reaches the socket)."""
        if not self.closed:
            self.closed = True
            self.output.put(None)


def wrap_int64(value: int) -> int:
    """Two's-complement wrap, as Go's int64 arithmetic overflows."""
    value &= INT64_MASK
    return value - (1 << 64) if value >= 1 << 63 else value


def duration_s(amount: int, unit_ns: int) -> float:
    """Go's ``time.Duration(amount) * unit`` in seconds (wrapping like int64 does)."""
    return wrap_int64(amount * unit_ns) / 1e9


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(min(seconds, MAX_SLEEP_S))


async def noop(stub: Stub, attrs: dict[str, int]) -> None:
    """Pass everything through (also what runs when the toxicity draw says "not this link")."""
    while True:
        chunk = await stub.input.get()
        if chunk is None:
            stub.close()
            return
        stub.output.put(chunk)


async def latency(stub: Stub, attrs: dict[str, int]) -> None:
    """Hold each chunk until latency ± jitter ms after it was read; never reorders."""
    loop = stub.link.loop
    base, jitter = attrs["latency"], attrs["jitter"]
    while True:
        chunk = await stub.input.get()
        if chunk is None:
            stub.close()
            return
        delay = base
        if jitter > 0:
            delay = wrap_int64(delay + stub.link.rng.randrange(jitter * 2) - jitter)
        sleep = duration_s(delay, 1_000_000) - (loop.time() - chunk.ts)
        if sleep > 0:
            stub.held = [chunk]
            await _sleep(sleep)
            stub.held = []
        chunk.ts += sleep
        stub.output.put(chunk)


async def bandwidth(stub: Stub, attrs: dict[str, int]) -> None:
    """Pace to ``rate`` KB/s, cutting chunks into rate*100-byte pieces 100 ms apart; rate 0 stalls."""
    loop = stub.link.loop
    rate = attrs["rate"]
    piece = rate * 100
    debt = 0.0
    while True:
        chunk = await stub.input.get()
        if chunk is None:
            stub.close()
            return
        if rate <= 0:
            debt = 0.0
        else:
            debt += len(chunk.data) / 1000 / rate
        if len(chunk.data) > piece:
            stub.held = [chunk]
            while len(chunk.data) > piece:
                await asyncio.sleep(0.1)
                if piece > 0:
                    stub.output.put(Chunk(chunk.data[:piece], chunk.ts))
                    chunk.data = chunk.data[piece:]
                debt -= 0.1
        stub.held = [chunk]
        start = loop.time()
        await _sleep(debt)
        debt -= loop.time() - start
        stub.held = []
        stub.output.put(chunk)


async def slow_close(stub: Stub, attrs: dict[str, int]) -> None:
    """Pass data; when the stream ends, wait ``delay`` ms before passing the end on."""
    while True:
        chunk = await stub.input.get()
        if chunk is None:
            await _sleep(duration_s(attrs["delay"], 1_000_000))
            stub.close()
            return
        stub.output.put(chunk)


async def timeout(stub: Stub, attrs: dict[str, int]) -> None:
    """Discard everything; with timeout > 0 close after that many ms without a chunk arriving."""
    limit = duration_s(attrs["timeout"], 1_000_000)
    while True:
        if limit > 0:
            try:
                chunk = await asyncio.wait_for(stub.input.get(), min(limit, MAX_SLEEP_S))
            except TimeoutError:
                stub.close()
                return
        else:
            chunk = await stub.input.get()
        if chunk is None:
            stub.close()
            return


async def reset_peer(stub: Stub, attrs: dict[str, int]) -> None:
    """Wait for the first chunk (or the end), drop it, wait ``timeout`` ms (uninterruptible), close."""
    await stub.input.get()
    stub.shielded = True
    await _sleep(duration_s(attrs["timeout"], 1_000_000))
    stub.close()


def slicer_cuts(start: int, end: int, average: int, variation: int, rng: Any) -> list[int]:
    """Boundaries of the pieces of [start, end): split near the middle until pieces are small enough.

    Offsets are drawn in [-variation, +variation); the embedded server refuses attribute values for which
    the real server recurses forever or cuts outside the data (see model.unsafe_attributes), and clamps
    every cut into the piece as a last guard.
    """
    stack = [(start, end)]
    pieces: list[tuple[int, int]] = []
    while stack:
        lo, hi = stack.pop()
        if (hi - lo) - average <= variation:
            pieces.append((lo, hi))
            continue
        mid = lo + (hi - lo) // 2
        if variation > 0:
            mid += rng.randrange(variation * 2) - variation
        mid = min(max(mid, lo), hi)
        stack.append((mid, hi))
        stack.append((lo, mid))
    return [lo for lo, _ in pieces] + [end]


async def slicer(stub: Stub, attrs: dict[str, int]) -> None:
    """Split each chunk into smaller writes, ``delay`` µs apart."""
    rng = stub.link.rng
    pause = duration_s(attrs["delay"], 1_000)
    while True:
        chunk = await stub.input.get()
        if chunk is None:
            stub.close()
            return
        data = chunk.data
        bounds = slicer_cuts(0, len(data), attrs["average_size"], attrs["size_variation"], rng)
        for lo, hi in itertools.pairwise(bounds):
            stub.output.put(Chunk(data[lo:hi], chunk.ts))
            stub.held = [Chunk(data[hi:], chunk.ts)]
            await asyncio.sleep(max(pause, 0.0))
            stub.held = []


async def limit_data(stub: Stub, attrs: dict[str, int]) -> None:
    """Forward at most ``bytes`` bytes on this link (the count survives updates), then close."""
    limit = attrs["bytes"]
    state = stub.state
    while True:
        chunk = await stub.input.get()
        if chunk is None:
            stub.close()
            return
        remaining = max(limit - state["transmitted"], 0)
        if remaining < len(chunk.data):
            chunk = Chunk(chunk.data[:remaining], chunk.ts)
        if chunk.data:
            stub.output.put(chunk)
            state["transmitted"] += len(chunk.data)
        if limit - state["transmitted"] <= 0:
            stub.close()
            return


Behaviour = Callable[[Stub, dict[str, int]], Coroutine[Any, Any, None]]

BEHAVIOURS: dict[str, Behaviour] = {
    "noop": noop,
    "latency": latency,
    "bandwidth": bandwidth,
    "slow_close": slow_close,
    "timeout": timeout,
    "reset_peer": reset_peer,
    "slicer": slicer,
    "limit_data": limit_data,
}
