"""Exactly-once, in-order delivery by venue id for streams whose ids grow by exactly 1 per message.

Binance trade ids (``t``) and aggregate trade ids (``a``) are consecutive per symbol, so a missing id is a
lost message and a repeated id is a duplicate (typically from overlapping connections during a reconnect
or a make-before-break rotation). :class:`IdSequencer` turns the raw arrival order into:

* :class:`Deliver` for each id exactly once, in increasing id order;
* :class:`Duplicate` for ids already delivered or already held;
* :class:`Missing` when a hole outlived the reorder window and should be backfilled (``backfill=True``):
  live items after the hole are held until :meth:`IdSequencer.fill` or :meth:`IdSequencer.abandon`;
* :class:`Lost` for every id that will never be delivered (reported to subscribers as a Gap).

Short reorders heal by themselves: an id that arrives ahead of its predecessors is held for up to
``hold_window_ns``. Memory is bounded by ``max_held``: beyond it the hole is declared lost and held items
are released. Pure: times are monotonic nanoseconds passed in; nothing reads a clock.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Deliver(Generic[T]):
    """Deliver ``item`` (venue id ``id``) now; ``backfilled`` when it came from REST rather than live."""

    id: int
    item: T
    backfilled: bool = False


@dataclass(frozen=True, slots=True)
class Duplicate:
    """An id that was already delivered or is already held; the item was dropped."""

    id: int


@dataclass(frozen=True, slots=True)
class Missing:
    """Ids ``first_id..last_id`` (inclusive) are missing: try to backfill them, then call fill or abandon."""

    first_id: int
    last_id: int


@dataclass(frozen=True, slots=True)
class Lost:
    """Ids ``first_id..last_id`` (inclusive) will never be delivered (report a Gap)."""

    first_id: int
    last_id: int


Output: TypeAlias = Deliver[T] | Duplicate | Missing | Lost


class IdSequencer(Generic[T]):
    """Per-stream sequencer over consecutive venue ids (see the module docstring).

    Drive it with :meth:`offer` for each live item and :meth:`tick` when :meth:`next_deadline_ns` passes
    (``offer`` also ticks). A hole is acted on once the oldest held item has waited ``hold_window_ns``.
    """

    def __init__(
        self, *, hold_window_ns: int = 50_000_000, max_held: int = 10_000, backfill: bool = True
    ) -> None:
        if hold_window_ns < 0:
            raise ValueError(f"IdSequencer hold_window_ns must be >= 0, got {hold_window_ns!r}")
        if max_held < 1:
            raise ValueError(f"IdSequencer max_held must be >= 1, got {max_held!r}")
        self.hold_window_ns = hold_window_ns
        self.max_held = max_held
        self.backfill = backfill
        self.last_id: int | None = None
        """Highest id delivered or declared lost; None before the first item (or after reset)."""
        self.waiting: Missing | None = None
        """The hole announced by the last Missing, until fill/abandon (or until it closes by itself)."""
        self._held: dict[int, T] = {}
        self._heap: list[int] = []  # held ids, min-heap; always in sync with _held
        self._arrivals: deque[tuple[int, int]] = deque()  # (arrival_ns, id) in arrival order, lazy deletion

    # -- inspection -------------------------------------------------------------------------------------

    @property
    def held(self) -> int:
        """Number of live items held back waiting for a hole to close."""
        return len(self._held)

    def first_held_id(self) -> int | None:
        """Smallest held id, or None."""
        return self._heap[0] if self._heap else None

    def _oldest_arrival_ns(self) -> int | None:
        arrivals = self._arrivals
        while arrivals and arrivals[0][1] not in self._held:
            arrivals.popleft()
        return arrivals[0][0] if arrivals else None

    def next_deadline_ns(self) -> int | None:
        """When :meth:`tick` has something to do, or None (nothing held, or waiting for a backfill)."""
        if self.waiting is not None:
            return None
        oldest = self._oldest_arrival_ns()
        return None if oldest is None else oldest + self.hold_window_ns

    # -- input ------------------------------------------------------------------------------------------

    def offer(self, id: int, item: T, now_ns: int) -> list[Output[T]]:
        """Process one live item that arrived at ``now_ns``; returns what to do, in order."""
        out: list[Output[T]] = []
        last = self.last_id
        if last is None:
            self.last_id = id
            out.append(Deliver(id, item))
        elif id <= last or id in self._held:
            out.append(Duplicate(id))
        elif id == last + 1:
            self.last_id = id
            out.append(Deliver(id, item))
            self._release_contiguous(out)
        else:
            self._held[id] = item
            heapq.heappush(self._heap, id)
            self._arrivals.append((now_ns, id))
            if len(self._held) > self.max_held:
                self._overflow(out)
        self._expire(now_ns, out)
        return out

    def tick(self, now_ns: int) -> list[Output[T]]:
        """Act on holes whose reorder window has passed."""
        out: list[Output[T]] = []
        self._expire(now_ns, out)
        return out

    def fill(self, items: Iterable[tuple[int, T]], *, hole: Missing | None = None) -> list[Output[T]]:
        """Deliver backfilled items for the waiting hole, then release held live items.

        ``items`` may come in any order; ids outside the hole, ids already delivered and ids already held
        live are ignored. Whatever part of the hole is still missing becomes :class:`Lost`. Pass ``hole``
        (the Missing this backfill answers) to ignore a late answer to an older hole.
        """
        waiting = self.waiting
        if waiting is None or (hole is not None and hole != waiting):
            return []
        self.waiting = None
        assert self.last_id is not None
        low, high = self.last_id + 1, waiting.last_id
        out: list[Output[T]] = []
        if low > high:  # closed by live items meanwhile
            self._release_contiguous(out)
            return out
        got: dict[int, T] = {}
        for id_, item in items:
            if low <= id_ <= high and id_ not in self._held and id_ not in got:
                got[id_] = item
        got_ids = sorted(got)
        gi = 0
        while True:
            next_got = got_ids[gi] if gi < len(got_ids) else None
            next_held = self._heap[0] if self._heap and self._heap[0] <= high else None
            if next_got is None and next_held is None:
                break
            if next_held is None or (next_got is not None and next_got < next_held):
                assert next_got is not None
                self._advance_to(next_got, out)
                out.append(Deliver(next_got, got[next_got], backfilled=True))
                gi += 1
            else:
                self._advance_to(next_held, out)
                heapq.heappop(self._heap)
                out.append(Deliver(next_held, self._held.pop(next_held)))
        if self.last_id < high:
            out.append(Lost(self.last_id + 1, high))
            self.last_id = high
        self._release_contiguous(out)
        return out

    def abandon(self, *, hole: Missing | None = None) -> list[Output[T]]:
        """The backfill failed: the waiting hole becomes :class:`Lost`, then held items are released."""
        return self.fill((), hole=hole)

    def release_all(self) -> list[Output[T]]:
        """Declare every hole lost and release everything held (e.g. on shutdown, before :meth:`reset`)."""
        out: list[Output[T]] = []
        self.waiting = None
        while self._heap:
            self._lose_first_hole(out)
        self._arrivals.clear()
        return out

    def reset(self) -> None:
        """Forget the position (a new subscription). Held items are discarded: call release_all first."""
        self.last_id = None
        self.waiting = None
        self._held.clear()
        self._heap.clear()
        self._arrivals.clear()

    # -- internals --------------------------------------------------------------------------------------

    def _advance_to(self, id_: int, out: list[Output[T]]) -> None:
        """Before delivering ``id_``: report ids between last_id and ``id_`` as lost, move last_id."""
        assert self.last_id is not None
        if id_ > self.last_id + 1:
            out.append(Lost(self.last_id + 1, id_ - 1))
        self.last_id = id_

    def _release_contiguous(self, out: list[Output[T]]) -> None:
        assert self.last_id is not None
        heap, held = self._heap, self._held
        while heap and heap[0] == self.last_id + 1:
            id_ = heapq.heappop(heap)
            out.append(Deliver(id_, held.pop(id_)))
            self.last_id = id_
        waiting = self.waiting
        if waiting is not None and self.last_id >= waiting.last_id:
            self.waiting = None  # the hole closed by itself (late live items)

    def _lose_first_hole(self, out: list[Output[T]]) -> None:
        """Declare the hole before the first held item lost and release what follows it contiguously."""
        first = self._heap[0]
        self._advance_to(first, out)
        heapq.heappop(self._heap)
        out.append(Deliver(first, self._held.pop(first)))
        self._release_contiguous(out)

    def _overflow(self, out: list[Output[T]]) -> None:
        while len(self._held) > self.max_held:
            self._lose_first_hole(out)  # a waiting hole that is now fully lost stops waiting

    def _expire(self, now_ns: int, out: list[Output[T]]) -> None:
        if self.waiting is not None:
            return
        while True:
            oldest = self._oldest_arrival_ns()
            if oldest is None or now_ns - oldest < self.hold_window_ns:
                return
            assert self.last_id is not None
            first = self._heap[0]
            if self.backfill:
                self.waiting = Missing(self.last_id + 1, first - 1)
                out.append(self.waiting)
                return
            self._lose_first_hole(out)
