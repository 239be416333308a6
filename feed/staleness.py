"""Per-stream staleness with thresholds derived from each stream's own message rate.

A stream is stale when no message arrived for its threshold: ``factor`` times an EWMA of its recent
inter-arrival gaps, clamped to ``[floor_s, ceiling_s]``. A busy stream (a trade stream at 50 msg/s) is
flagged within ``floor_s``; a quiet one (a kline stream pushing every 2 s) gets a longer threshold, so a
quiet market is not stale. Until ``warmup`` gaps have been seen the threshold is ``ceiling_s``.

Pure: times are monotonic nanoseconds passed in by the caller; nothing reads a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_NS = 1_000_000_000


@dataclass(slots=True)
class _Stream:
    last_ns: int
    threshold_ns: int
    ewma_gap_ns: float = 0.0
    gaps: int = 0
    stale: bool = False


class StalenessTracker:
    """Tracks when each stream last delivered a message and which streams are stale.

    A stream becomes stale at ``last_message_ns + threshold_ns`` (inclusive). :meth:`check` reports each
    newly stale stream once; :meth:`on_message` says when a stale stream is fresh again. A gap sample fed
    to the EWMA is capped at the threshold in force, so an outage does not inflate the threshold in one
    step while a market that really slowed down still raises it gradually.
    """

    def __init__(
        self,
        *,
        factor: float = 10.0,
        floor_s: float = 1.0,
        ceiling_s: float = 60.0,
        alpha: float = 0.1,
        warmup: int = 5,
    ) -> None:
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"StalenessTracker factor must be a finite number > 0, got {factor!r}")
        if not (math.isfinite(floor_s) and floor_s > 0):
            raise ValueError(f"StalenessTracker floor_s must be a finite number > 0, got {floor_s!r}")
        if not (math.isfinite(ceiling_s) and ceiling_s >= floor_s):
            raise ValueError(
                f"StalenessTracker ceiling_s must be finite and >= floor_s ({floor_s}), got {ceiling_s!r}"
            )
        if not (0 < alpha <= 1):
            raise ValueError(f"StalenessTracker alpha must be in (0, 1], got {alpha!r}")
        if warmup < 0:
            raise ValueError(f"StalenessTracker warmup must be >= 0, got {warmup!r}")
        self.factor = factor
        self.floor_ns = round(floor_s * _NS)
        self.ceiling_ns = round(ceiling_s * _NS)
        self.alpha = alpha
        self.warmup = warmup
        self._streams: dict[str, _Stream] = {}
        self._stale: set[str] = set()

    def _threshold(self, state: _Stream) -> int:
        if state.gaps < self.warmup or state.gaps == 0:
            return self.ceiling_ns
        derived = int(state.ewma_gap_ns * self.factor)
        return min(self.ceiling_ns, max(self.floor_ns, derived))

    def watch(self, stream: str, now_ns: int) -> None:
        """Start tracking ``stream``; ``now_ns`` counts as a message time for its deadline.

        Watching a tracked stream again (e.g. after a resubscribe) only pushes its deadline out; its rate
        history and stale state are kept (a stale stream is fresh again on its next message).
        """
        state = self._streams.get(stream)
        if state is None:
            self._streams[stream] = _Stream(last_ns=now_ns, threshold_ns=self.ceiling_ns)
        elif now_ns > state.last_ns:
            state.last_ns = now_ns

    def on_message(self, stream: str, now_ns: int) -> bool:
        """Record a message; True when the stream was stale and is fresh again. O(1).

        A message on an untracked stream starts tracking it.
        """
        state = self._streams.get(stream)
        if state is None:
            self._streams[stream] = _Stream(last_ns=now_ns, threshold_ns=self.ceiling_ns)
            return False
        gap = now_ns - state.last_ns
        if gap > 0:
            sample = min(gap, state.threshold_ns)
            if state.gaps == 0:
                state.ewma_gap_ns = float(sample)
            else:
                state.ewma_gap_ns += self.alpha * (sample - state.ewma_gap_ns)
            state.gaps += 1
            state.last_ns = now_ns
            state.threshold_ns = self._threshold(state)
        elif gap < 0:
            return False  # an out-of-order timestamp neither refreshes nor counts
        if state.stale:
            state.stale = False
            self._stale.discard(stream)
            return True
        return False

    def check(self, now_ns: int) -> list[str]:
        """Streams that became stale since the last check (each reported once until fresh again)."""
        newly: list[str] = []
        for stream, state in self._streams.items():
            if not state.stale and now_ns >= state.last_ns + state.threshold_ns:
                state.stale = True
                self._stale.add(stream)
                newly.append(stream)
        return newly

    def threshold_ns(self, stream: str) -> int:
        """Current staleness threshold of ``stream`` in ns (``KeyError`` when not tracked)."""
        return self._streams[stream].threshold_ns

    def last_message_ns(self, stream: str) -> int:
        """Time of the last message (or watch) of ``stream`` (``KeyError`` when not tracked)."""
        return self._streams[stream].last_ns

    def stale(self) -> set[str]:
        """Streams currently stale (a copy)."""
        return set(self._stale)

    def is_stale(self, stream: str) -> bool:
        """True when ``stream`` is tracked and currently stale."""
        return stream in self._stale

    def remove(self, stream: str) -> None:
        """Stop tracking ``stream`` (no error when it is not tracked)."""
        self._streams.pop(stream, None)
        self._stale.discard(stream)

    def next_deadline_ns(self) -> int | None:
        """Earliest time a tracked fresh stream becomes stale (call :meth:`check` then), or None."""
        deadlines = [s.last_ns + s.threshold_ns for s in self._streams.values() if not s.stale]
        return min(deadlines) if deadlines else None

    def __contains__(self, stream: object) -> bool:
        return stream in self._streams

    def __len__(self) -> int:
        return len(self._streams)
