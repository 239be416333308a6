"""One bound for every duration-like field of the venue control API (stalls, fault windows, REST delays)."""

from __future__ import annotations

import math
from typing import Any

MAX_DURATION_S = 3600.0
"""The longest stall, fault duration, REST delay or Retry-After the control API accepts, in seconds: one
hour is far beyond any scenario (recordings replay in minutes) and short enough that a mistaken value
cannot stop a venue for good."""


def check_duration(field: str, value: Any, *, allow_zero: bool = False) -> float:
    """``value`` as seconds; ``ValueError`` naming ``field`` and the bounds when it is not a number in
    (0, MAX_DURATION_S] (or [0, MAX_DURATION_S] with ``allow_zero``)."""
    low = "at least 0" if allow_zero else "more than 0"
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
        or value > MAX_DURATION_S
    ):
        raise ValueError(
            f"{field} must be a number of seconds, {low} and at most {MAX_DURATION_S:g} (the maximum), "
            f"got {value!r}"
        )
    return float(value)
