"""Everything a finished run leaves behind, gathered into plain data the checkers read.

Both stacks produce the same :class:`RunData`: the in-process stack from its live objects, the
multi-process stack from the venue's control API and the feed's journal, state file and DLQ. The checks in
:mod:`harness.evaluate` are pure functions of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mock_venues.history import VenueHistory

BookTriple = tuple[dict[str, Any], dict[str, Any] | None, tuple[str, str] | None]
"""(the venue's true book, the feed's book or None when not in sync, the feed's exact price band)."""


@dataclass
class FaultWindow:
    """A fault as it happened: when it started and (if healed) ended, monotonic ns."""

    name: str
    start_ns: int
    end_ns: int | None = None


@dataclass
class RunData:
    """The histories and end state of one run."""

    t0_ns: int
    streams: list[str]  # the feed's stream names
    replay_of: dict[str, str | None]  # feed stream -> the venue's replay stream feeding it
    timeline: VenueHistory  # every message the venue published, once, with its intended send time
    venue_history: VenueHistory  # what the venue sent to each connection, faults and connection events
    events: list[Any]  # FeedEvent objects (in-process) or decoded journal lines (multi-process)
    books: dict[str, BookTriple]
    stats: dict[str, Any]
    dead_letters: list[tuple[str | None, bytes]] | None = None  # None: the run had no DLQ
    dead_letter_times: list[tuple[int, str | None, str]] = field(
        default_factory=list
    )  # (mono ns, stream, reason)
    rss: list[tuple[int, int]] = field(default_factory=list)  # (monotonic ns, bytes) of the feed process
    rss_by_process: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # feed, venue, proxy
    allocation_growth: list[str] = field(default_factory=list)  # tracemalloc top growth (on demand)
    restarts: int = 0  # times the feed process was killed and started again
    latencies: list[tuple[int, int, str]] | None = None  # cache of harness.evaluate.live_latencies
