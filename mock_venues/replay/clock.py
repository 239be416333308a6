"""Maps recorded offsets to intended send times at a (live-changeable) speed factor."""

from __future__ import annotations

import time
from collections.abc import Callable

MIN_SPEED = 0.1
MAX_SPEED = 100.0


def check_speed(speed: float | None) -> float | None:
    """Validate a speed factor: ``None`` (as fast as possible) or a number in [0.1, 100]."""
    if speed is None:
        return None
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise ValueError(f"speed must be a number or None, not {type(speed).__name__}")
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(f"speed must be between {MIN_SPEED} and {MAX_SPEED} (or None), got {speed}")
    return float(speed)


class ReplayClock:
    """Intended send time of each recorded offset.

    At speed ``s`` a message recorded ``d`` ns after the anchor is due ``d / s`` ns after the anchor's
    wall (monotonic) time. Changing speed re-anchors at the current position, so the schedule stays
    continuous. As fast as possible (``None``): every message is due when it is asked about.
    """

    def __init__(self, speed: float | None = 1.0, now: Callable[[], int] = time.monotonic_ns) -> None:
        self._speed = check_speed(speed)
        self._now = now
        self._anchor_now_ns = 0
        self._anchor_offset_ns = 0
        self._last_offset_ns = 0
        self.started = False

    @property
    def speed(self) -> float | None:
        """The current speed factor (None = as fast as possible)."""
        return self._speed

    def start(self, now_ns: int, first_offset_ns: int) -> None:
        """Anchor the schedule: the message at ``first_offset_ns`` is due at ``now_ns``."""
        self._anchor_now_ns = now_ns
        self._anchor_offset_ns = first_offset_ns
        self._last_offset_ns = first_offset_ns
        self.started = True

    def intended_ns(self, offset_ns: int) -> int:
        """The monotonic time at which the message recorded at ``offset_ns`` should be sent."""
        self._last_offset_ns = offset_ns
        speed = self._speed
        if speed is None:
            return self._now()
        return self._anchor_now_ns + int((offset_ns - self._anchor_offset_ns) / speed)

    def position_ns(self, now_ns: int) -> int:
        """The recorded offset the schedule has reached at ``now_ns``."""
        if self._speed is None:
            return self._last_offset_ns
        return self._anchor_offset_ns + int((now_ns - self._anchor_now_ns) * self._speed)

    def set_speed(self, speed: float | None, now_ns: int) -> None:
        """Change speed from ``now_ns`` on, keeping the schedule continuous."""
        new = check_speed(speed)
        if self.started:
            self._anchor_offset_ns = self.position_ns(now_ns)
            self._anchor_now_ns = now_ns
        self._speed = new
