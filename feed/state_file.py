"""A JSON picture of a running feed for other processes: books, sync state, pending work, counters.

``tickstorm feed --state-out PATH`` writes it on SIGUSR1 and when the feed stops (atomically: a reader
never sees half a file). The chaos harness uses it to tell when a feed in another process has settled and
to compare its books with the venue's true books.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from feed.feed import Feed


def feed_state(feed: Feed, *, sequence: int = 0, final: bool = False) -> dict[str, Any]:
    """Per venue its streams; per instrument its book (every level, in the neutral book shape of
    docs/events.md) and whether it is in sync; whether a backfill is pending; the counters. The final dump
    (on stop) adds the top allocation growth when tracemalloc is on (slow on a big heap)."""
    books: dict[str, Any] = {}
    venues: dict[str, Any] = {}
    for name, venue in feed.venues.items():
        venues[name] = {"adapter": venue.adapter.name, "streams": sorted(venue.engine.streams)}
        for state in venue.engine.books.values():
            view = feed.book(state.instrument)
            books[state.instrument] = {
                "venue": name,
                "symbol": venue.engine.streams[state.stream].spec.symbol,
                "stream": state.stream,
                "synced": state.sync.synced,
                "book": view.body() if view is not None else None,
            }
    doc: dict[str, Any] = {
        "sequence": sequence,
        "pid": os.getpid(),
        "venues": venues,
        "books": books,
        "backfilling": any(v.engine.backfilling for v in feed.venues.values()),
        "stats": feed.stats(),
    }
    if final and feed.allocations_at_start is not None:
        doc["allocation_growth"] = allocation_growth(feed.allocations_at_start)
    return doc


def allocation_growth(start: tracemalloc.Snapshot, top: int = 10) -> list[str]:
    """The source lines whose allocations grew most since ``start`` (tracemalloc must be tracing)."""
    now = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    return [str(stat) for stat in now.compare_to(start, "lineno")[:top]]


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(state))
    os.replace(tmp, path)
