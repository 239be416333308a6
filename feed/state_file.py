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
    from feed.binance_spot.feed import BinanceSpotFeed


def feed_state(feed: BinanceSpotFeed, *, sequence: int = 0, final: bool = False) -> dict[str, Any]:
    """Books (every level), whether each is in sync, whether a backfill is pending, and the counters; the
    final dump (on stop) adds the top allocation growth when tracemalloc is on (slow on a big heap)."""
    books: dict[str, Any] = {}
    for symbol, state in feed.core.books.items():
        book = feed.book(symbol)
        body = None
        if book is not None:
            bids, asks = book.top()
            body = {"lastUpdateId": book.last_update_id, "bids": bids, "asks": asks}
        books[symbol] = {"synced": state.sync.synced, "book": body, "band": feed.book_band(symbol)}
    backfilling = any(
        s.sequencer is not None and s.sequencer.waiting is not None for s in feed.core.streams.values()
    )
    doc: dict[str, Any] = {
        "sequence": sequence,
        "pid": os.getpid(),
        "streams": feed.settings.stream_names(),
        "books": books,
        "backfilling": backfilling,
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
