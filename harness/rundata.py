"""Everything a finished run leaves behind, gathered into plain data the checkers read.

Both stacks produce the same :class:`RunData`: the in-process stack from its live objects, the
multi-process stack from the venues' control APIs and the feed's journal, state file and DLQ. The checks
in :mod:`harness.evaluate` are pure functions of it. Feed events are read only through their normalized
fields (docs/events.md): venue, instrument, channel, stream, kind, ids and times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from mock_venues.base.history import VenueHistory

BookPair = tuple[dict[str, Any], dict[str, Any] | None]
"""(the venue's true book ``{"id","bids","asks"}``, the feed's book ``{"id","bids","asks","band"}`` or None
when it is not in sync)."""


class LiveLatency(NamedTuple):
    """One live market event's latency: measured from the venue's intended send time (monotonic ns)."""

    sent_ns: int
    latency_ns: int
    kind: str
    venue: str


@dataclass
class FaultWindow:
    """A fault as it happened: when it started and (if healed) ended, monotonic ns, and the venue instance
    it touched (``"*"``: every venue)."""

    name: str
    start_ns: int
    end_ns: int | None = None
    venue: str = ""


@dataclass
class VenueRun:
    """One venue of the run: what it published and sent, and which of the feed's streams it fed."""

    name: str  # the instance name (the feed's ``venue`` field)
    adapter: str  # the registry name
    streams: list[str]  # the feed's streams of this venue
    replay_of: dict[str, str | None]  # feed stream -> the venue's replay stream feeding it
    latest_value: set[str]  # streams whose every message supersedes the last (no loss defined)
    timeline: VenueHistory  # every message the venue published, once, with its intended send time
    history: VenueHistory  # what the venue sent to each connection, faults and connection events


@dataclass
class RunData:
    """The histories and end state of one run."""

    t0_ns: int
    venues: dict[str, VenueRun]
    events: list[Any]  # FeedEvent objects (in-process) or decoded journal lines (multi-process)
    books: dict[str, BookPair]  # by instrument
    stats: dict[str, Any]
    dead_letters: list[tuple[str, str | None, bytes]] | None = None  # (venue, stream, raw); None: no DLQ
    dead_letter_times: list[tuple[int, str | None, str]] = field(
        default_factory=list
    )  # (mono ns, stream, reason)
    rss: list[tuple[int, int]] = field(default_factory=list)  # (monotonic ns, bytes) of the feed process
    rss_by_process: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # feed, venue, proxy
    allocation_growth: list[str] = field(default_factory=list)  # tracemalloc top growth (on demand)
    restarts: int = 0  # times the feed process was killed and started again
    latencies: list[LiveLatency] | None = None  # cache of harness.evaluate.live_latencies
    books_without_truth: list[str] = field(default_factory=list)  # feed books no venue truth judges

    @property
    def multi_venue(self) -> bool:
        """Whether the run had several venues (check names then say which venue they are about)."""
        return len(self.venues) > 1
