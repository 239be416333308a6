"""The feed's delivery journal (``jsonl``): what a restarted feed continues from.

The journal holds every delivered event, one JSON object per line, written before the event counts as
delivered to the file sink. After a crash, :func:`last_ids` reads it back: per stream, the highest id that
was delivered or declared lost (a gap event's ``id``), so the restarted feed neither delivers those ids a
second time nor skips the ones it never wrote. A torn last line (the process died mid-write) is ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from feed.events import MARKET_TYPES


class JournalEvent(msgspec.Struct, kw_only=True):
    """The fields of a journal line that readers use (the payload ``data`` is skipped, not decoded)."""

    type: str
    symbol: str = ""
    stream: str = ""
    id: int | None = None
    first_id: int | None = None
    recv_ns: int = 0
    deliver_ns: int = 0
    backfilled: bool = False
    detail: dict[str, Any] | None = None

    @property
    def is_market(self) -> bool:
        """Whether this is market data."""
        return self.type in MARKET_TYPES


_DECODER = msgspec.json.Decoder(JournalEvent)
JOURNALED_TYPES = MARKET_TYPES | {"gap"}


def read_journal(path: Path, *, skip_malformed: bool = False) -> Iterator[JournalEvent]:
    """Every complete line of a journal, in delivery order (a torn last line from a kill is left out).

    A line that does not decode raises ``msgspec.DecodeError`` unless ``skip_malformed``.
    """
    if not path.exists():
        return
    with path.open("rb") as journal:
        for line in journal:
            if not line.endswith(b"\n"):
                return  # torn write at the moment of the crash: that event was never delivered
            try:
                yield _DECODER.decode(line)
            except msgspec.DecodeError:
                if not skip_malformed:
                    raise


def last_ids(path: Path) -> dict[str, int]:
    """Highest delivered-or-lost id per stream in a journal (empty if the file does not exist)."""
    out: dict[str, int] = {}
    for event in read_journal(path, skip_malformed=True):
        if event.id is None or not event.stream or event.type not in JOURNALED_TYPES:
            continue
        if event.id > out.get(event.stream, -1):
            out[event.stream] = event.id
    return out


def truncate_torn_tail(path: Path) -> None:
    """Cut a partial last line left by a crash, so appended events start on a line of their own."""
    if not path.exists():
        return
    with path.open("rb+") as journal:
        journal.seek(0, 2)
        size = journal.tell()
        if size == 0:
            return
        journal.seek(size - 1)
        if journal.read(1) == b"\n":
            return
        # Walk back to the last newline (a torn line is at most one event long).
        step = min(size, 1 << 20)
        journal.seek(size - step)
        tail = journal.read(step)
        cut = tail.rfind(b"\n")
        journal.truncate(size - step + cut + 1 if cut >= 0 else 0)
