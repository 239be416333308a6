"""An injected REST fault: error statuses and slow answers on a venue's REST API (any venue)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mock_venues.base.durations import check_duration


@dataclass
class RestFaults:
    """An injected REST fault (the control API builds it from JSON with exactly these field names).

    ``status``: answer every matching request with this HTTP status and the venue's own error body
    (None = no status fault). ``delay_s``: wait this long before answering. ``count``: the fault covers
    this many requests, then stops (None = until cleared). ``paths``: only these endpoint paths
    (``/api/v3/depth``, or just its last segment ``depth``); None = every path. ``retry_after_s``: the
    ``Retry-After`` of a 429/418 fault (default 1).
    """

    status: int | None = None
    count: int | None = None
    delay_s: float = 0.0
    paths: frozenset[str] | None = None
    retry_after_s: int | None = None

    def __post_init__(self) -> None:
        if self.status is not None and (
            isinstance(self.status, bool) or not isinstance(self.status, int) or not 100 <= self.status <= 599
        ):
            raise ValueError(f"status must be an HTTP status or null, got {self.status!r}")
        if self.count is not None and (
            isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1
        ):
            raise ValueError(f"count must be a positive integer or null, got {self.count!r}")
        self.delay_s = check_duration("delay_s", self.delay_s, allow_zero=True)
        if self.retry_after_s is not None:
            if isinstance(self.retry_after_s, bool) or not isinstance(self.retry_after_s, int):
                raise ValueError(
                    f"retry_after_s must be a non-negative integer or null, got {self.retry_after_s!r}"
                )
            check_duration("retry_after_s", self.retry_after_s, allow_zero=True)
        if self.paths is not None:
            paths: Iterable[Any] = self.paths
            if isinstance(paths, str) or not all(isinstance(p, str) for p in paths):
                raise ValueError("paths must be a list of endpoint paths or null")
            self.paths = frozenset(paths)

    @property
    def active(self) -> bool:
        """Whether the fault still does anything."""
        return (self.status is not None or self.delay_s > 0) and (self.count is None or self.count > 0)

    def matches(self, path: str) -> bool:
        """Whether the fault covers a request to ``path`` (ignores ``count``)."""
        if self.paths is None:
            return True
        short = path.rstrip("/").rsplit("/", 1)[-1]
        return path in self.paths or short in self.paths

    def take(self, path: str) -> bool:
        """Whether this request is faulted; consumes one of ``count``."""
        if not self.active or not self.matches(path):
            return False
        if self.count is not None:
            self.count -= 1
        return True
