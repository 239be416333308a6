"""Reconnect backoff: exponential growth, full jitter, a cap, and a reset only after a stable connection.

Pure: no clock reads and no sleeping. The caller passes times in and sleeps for the returned delays;
randomness comes from the injected :class:`random.Random` so tests are deterministic.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delay before the next connection attempt.

    ``next_delay()`` draws uniformly from ``[0, min(cap_s, base_s * factor**attempts)]`` ("full jitter",
    which spreads a fleet of reconnecting clients over the whole interval) and counts the attempt.
    ``attempts`` returns to 0 only when a connection stayed up for ``stable_after_s``: a connection
    that comes up and drops at once (a flapping venue) keeps growing the delay.
    """

    base_s: float = 0.5
    cap_s: float = 30.0
    factor: float = 2.0
    stable_after_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0
    connected_at_s: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.base_s) and self.base_s > 0):
            raise ValueError(f"Backoff base_s must be a finite number > 0, got {self.base_s!r}")
        if not (math.isfinite(self.cap_s) and self.cap_s >= self.base_s):
            raise ValueError(
                f"Backoff cap_s must be finite and >= base_s ({self.base_s}), got {self.cap_s!r}"
            )
        if not (math.isfinite(self.factor) and self.factor >= 1.0):
            raise ValueError(f"Backoff factor must be a finite number >= 1, got {self.factor!r}")
        if not (math.isfinite(self.stable_after_s) and self.stable_after_s >= 0):
            raise ValueError(
                f"Backoff stable_after_s must be a finite number >= 0, got {self.stable_after_s!r}"
            )
        if self.attempts < 0:
            raise ValueError(f"Backoff attempts must be >= 0, got {self.attempts!r}")

    def ceiling(self) -> float:
        """Upper bound of the next delay: ``min(cap_s, base_s * factor**attempts)``."""
        try:
            grown = self.base_s * self.factor**self.attempts
        except OverflowError:
            return self.cap_s
        return min(self.cap_s, grown)

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt (full jitter); counts the attempt."""
        delay = self.rng.uniform(0.0, self.ceiling())
        self.attempts += 1
        return delay

    def connected(self, now_s: float) -> None:
        """The connection came up at ``now_s``."""
        self.connected_at_s = now_s

    def disconnected(self, now_s: float) -> None:
        """The connection went down at ``now_s``; reset the delay only if it had been up long enough."""
        if self.connected_at_s is not None and now_s - self.connected_at_s >= self.stable_after_s:
            self.attempts = 0
        self.connected_at_s = None

    def retry_after(self, seconds: float) -> float:
        """Delay after a server-imposed wait (HTTP ``Retry-After``): never shorter than the server asked."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"retry_after seconds must be a finite number >= 0, got {seconds!r}")
        return max(seconds, self.next_delay())

    def reset(self) -> None:
        """Forget all attempts (e.g. after an operator-initiated restart)."""
        self.attempts = 0
        self.connected_at_s = None
