"""Client-side budgets that keep the feed inside a venue's limits (the numbers come from its adapter).

Venues cap control messages per connection per second, connection attempts per IP per window and REST
traffic per window (Binance spot: 5 messages per second, 300 attempts per 5 minutes, 6000 REST weight per
minute, then 429 and 418 bans). These classes are the feed's own, stricter, accounting. They are pure:
every time is passed in (seconds on a monotonic clock) and nothing sleeps; callers wait for the returned
delays.
"""

from __future__ import annotations

import math
from collections import deque


def _check_time(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite time in seconds, got {value!r}")


class AttemptBudget:
    """At most ``limit`` connection attempts in any sliding window of ``window_s`` seconds.

    One instance is shared by all connections of a feed (the venue counts attempts per IP). An attempt
    recorded at ``t`` counts until ``t + window_s``.
    """

    def __init__(self, limit: int = 240, window_s: float = 300.0) -> None:
        if limit < 1:
            raise ValueError(f"AttemptBudget limit must be >= 1, got {limit!r}")
        if not (math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"AttemptBudget window_s must be a finite number > 0, got {window_s!r}")
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque()

    def _expire(self, now_s: float) -> None:
        times = self._times
        while times and now_s - times[0] >= self.window_s:
            times.popleft()

    def wait_s(self, now_s: float) -> float:
        """0.0 when one more attempt is allowed now, else seconds until the oldest one leaves the window."""
        self._expire(now_s)
        if len(self._times) < self.limit:
            return 0.0
        return max(0.0, self._times[-self.limit] + self.window_s - now_s)

    def record(self, now_s: float) -> None:
        """Count an attempt made at ``now_s``."""
        _check_time("now_s", now_s)
        self._expire(now_s)
        self._times.append(now_s)

    def used(self, now_s: float) -> int:
        """Attempts counted in the window ending at ``now_s``."""
        self._expire(now_s)
        return len(self._times)


class MessagePacer:
    """Paces control messages (SUBSCRIBE, UNSUBSCRIBE, ...) on one connection.

    ``reserve(now_s)`` books the earliest slot at or after ``now_s`` such that no window of one second
    holds more than ``per_second`` messages (slots are booked in order, never earlier than a slot booked
    before). A fractional rate above 1 is rounded down (4.5/s allows 4 in any second); a rate below 1
    allows one message per ``1 / per_second`` seconds.
    """

    def __init__(self, per_second: float = 4.0) -> None:
        if not (math.isfinite(per_second) and per_second > 0):
            raise ValueError(f"MessagePacer per_second must be a finite number > 0, got {per_second!r}")
        self.per_second = per_second
        self.burst = max(1, math.floor(per_second))
        self.window_s = 1.0 if per_second >= 1 else 1.0 / per_second
        self._slots: deque[float] = deque(maxlen=self.burst)

    def reserve(self, now_s: float) -> float:
        """Book the next send slot and return its time (``>= now_s``)."""
        _check_time("now_s", now_s)
        slot = now_s
        slots = self._slots
        if slots:
            slot = max(slot, slots[-1])
            if len(slots) == self.burst:
                slot = max(slot, slots[0] + self.window_s)
        slots.append(slot)
        return slot

    def delay_s(self, now_s: float) -> float:
        """Book the next slot and return how long to wait for it (``reserve(now_s) - now_s``)."""
        return self.reserve(now_s) - now_s

    def reset(self) -> None:
        """Forget booked slots (a new connection starts with a fresh allowance)."""
        self._slots.clear()


class WeightBudget:
    """REST request weight the feed allows itself per sliding minute.

    Our own spends are counted in a 60 s sliding window. The venue's ``X-MBX-USED-WEIGHT-1M`` header is
    the truth (other processes on the same IP spend weight too): when it reports more than we counted,
    the difference is booked at that moment. After a 429/418, :meth:`block_until` forbids any request
    before the ``Retry-After`` time.
    """

    window_s = 60.0

    def __init__(self, limit_per_minute: int = 3000) -> None:
        if limit_per_minute < 1:
            raise ValueError(f"WeightBudget limit_per_minute must be >= 1, got {limit_per_minute!r}")
        self.limit_per_minute = limit_per_minute
        self.blocked_until: float = -math.inf
        self._spends: deque[tuple[float, int]] = deque()
        self._used = 0

    def _expire(self, now_s: float) -> None:
        spends = self._spends
        while spends and now_s - spends[0][0] >= self.window_s:
            self._used -= spends.popleft()[1]

    def _check_weight(self, weight: int) -> None:
        if weight < 0:
            raise ValueError(f"request weight must be >= 0, got {weight!r}")
        if weight > self.limit_per_minute:
            raise ValueError(
                f"request weight {weight} exceeds the whole budget of {self.limit_per_minute} per minute; "
                "raise rest_weight_per_minute or make the request lighter"
            )

    def used(self, now_s: float) -> int:
        """Weight counted in the minute ending at ``now_s``."""
        self._expire(now_s)
        return self._used

    def wait_s(self, weight: int, now_s: float) -> float:
        """Seconds until a request of ``weight`` fits (0.0 = send now); honours :attr:`blocked_until`."""
        self._check_weight(weight)
        self._expire(now_s)
        start = max(now_s, self.blocked_until)
        used = self._used
        if used + weight <= self.limit_per_minute:
            return start - now_s
        for at, spent in self._spends:
            used -= spent
            if used + weight <= self.limit_per_minute:
                return max(start, at + self.window_s) - now_s
        raise AssertionError("unreachable: weight <= limit fits once the window is empty")  # pragma: no cover

    def spend(self, weight: int, now_s: float) -> None:
        """Count a request of ``weight`` sent at ``now_s``."""
        self._check_weight(weight)
        _check_time("now_s", now_s)
        self._expire(now_s)
        if weight:
            self._spends.append((now_s, weight))
            self._used += weight

    def observe_used(self, used_1m: int, now_s: float) -> None:
        """Adopt the venue's ``X-MBX-USED-WEIGHT-1M`` when it is larger than our own count."""
        _check_time("now_s", now_s)
        self._expire(now_s)
        extra = used_1m - self._used
        if extra > 0:
            self._spends.append((now_s, extra))
            self._used += extra

    def block_until(self, until_s: float) -> None:
        """Send nothing before ``until_s`` (after a 429/418 with Retry-After); never shortens a block."""
        _check_time("until_s", until_s)
        self.blocked_until = max(self.blocked_until, until_s)
