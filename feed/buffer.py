"""A bounded FIFO buffer with an explicit overflow policy and drop accounting.

Used while a connection reconnects or a book resyncs: events pile up here, and when the buffer is full
the policy decides which event goes. Every drop is returned to the caller (who reports it as a gap) and
counted, so nothing is ever lost silently.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class OverflowPolicy(enum.StrEnum):
    """What a full buffer does with one more item (a ``str`` enum: values are the config spellings)."""

    DROP_OLDEST = "drop_oldest"
    """Evict the oldest buffered item and keep the new one (freshest data wins)."""
    DROP_NEWEST = "drop_newest"
    """Refuse the new item and keep what is buffered (earliest data wins)."""


class BoundedBuffer(Generic[T]):
    """FIFO of at most ``capacity`` items; O(1) push and pop."""

    def __init__(self, capacity: int, policy: OverflowPolicy = OverflowPolicy.DROP_OLDEST) -> None:
        if capacity < 1:
            raise ValueError(f"BoundedBuffer capacity must be >= 1, got {capacity!r}")
        self.capacity = capacity
        self.policy = OverflowPolicy(policy)
        self.dropped = 0
        """Items dropped by the overflow policy since creation."""
        self.high_water = 0
        """Largest number of items ever held at once."""
        self._items: deque[T] = deque()

    def push(self, item: T) -> T | None:
        """Append ``item``; return the item dropped to keep the capacity (``item`` itself for DROP_NEWEST)."""
        items = self._items
        victim: T | None = None
        if len(items) >= self.capacity:
            self.dropped += 1
            if self.policy is OverflowPolicy.DROP_NEWEST:
                return item
            victim = items.popleft()
        items.append(item)
        if len(items) > self.high_water:
            self.high_water = len(items)
        return victim

    def popleft(self) -> T:
        """Remove and return the oldest item (``IndexError`` when empty)."""
        if not self._items:
            raise IndexError("popleft from an empty BoundedBuffer")
        return self._items.popleft()

    def drain(self) -> list[T]:
        """Remove and return all items, oldest first."""
        items = list(self._items)
        self._items.clear()
        return items

    def peek(self) -> T | None:
        """The oldest item without removing it, or None when empty."""
        return self._items[0] if self._items else None

    def clear(self) -> int:
        """Discard all items (not counted as drops); return how many there were."""
        n = len(self._items)
        self._items.clear()
        return n

    @property
    def full(self) -> bool:
        """True when the next push will drop an item."""
        return len(self._items) >= self.capacity

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __repr__(self) -> str:
        return (
            f"BoundedBuffer(len={len(self._items)}, capacity={self.capacity}, policy={self.policy.value}, "
            f"dropped={self.dropped}, high_water={self.high_water})"
        )
