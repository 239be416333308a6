"""The feed's delivery journal (``jsonl``): what a restarted feed continues from.

The journal holds every delivered event, one JSON object per line, written before the event counts as
delivered to the file sink. After a crash, :func:`last_ids` reads it back: per stream, the highest id that
was delivered or declared lost (a gap event's ``id``), so the restarted feed neither delivers those ids a
second time nor skips the ones it never wrote. A torn last line (the process died mid-write) is ignored.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from feed.events import MARKET_TYPES


class _JournalLine(msgspec.Struct):
    type: str
    stream: str = ""
    id: int | None = None


_DECODER = msgspec.json.Decoder(_JournalLine)
JOURNALED_TYPES = MARKET_TYPES | {"gap"}


def last_ids(path: Path) -> dict[str, int]:
    """Highest delivered-or-lost id per stream in a journal (empty if the file does not exist)."""
    out: dict[str, int] = {}
    if not path.exists():
        return out
    with path.open("rb") as journal:
        for line in journal:
            if not line.endswith(b"\n"):
                break  # torn write at the moment of the crash: that event was never delivered
            try:
                event = _DECODER.decode(line)
            except msgspec.DecodeError:
                continue
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
