"""The feed's delivery journal (``jsonl``): what a restarted feed continues from.

The journal's first line names its schema (``{"type":"schema","schema":"tickstorm.events","version":2}``,
docs/events.md); every line after it is one delivered event, written before the event counts as delivered
to the file sink. After a crash, :func:`last_ids` reads it back: per venue and stream, the highest id that
was delivered or declared lost (a gap event's ``id``), so the restarted feed neither delivers those ids a
second time nor skips the ones it never wrote. A torn last line (the process died mid-write) is ignored.

Journals written before the venue seam (schema 1: no header line, Binance spot only, ``type`` naming the
stream kind) are read by upgrading each line to schema 2; a feed does not append to one
(:class:`JournalError`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from feed.events import HEADER_LINE, MARKET, SCHEMA, SCHEMA_VERSION


class JournalError(ValueError):
    """A journal that cannot be used as asked (the message names the file and what is wrong)."""


class JournalEvent(msgspec.Struct, kw_only=True):
    """The fields of a journal line that readers use (the payload ``data`` is skipped, not decoded)."""

    type: str
    venue: str = ""
    channel: str = ""
    instrument: str = ""
    symbol: str = ""
    stream: str = ""
    kind: str = ""
    id: int | None = None
    first_id: int | None = None
    exchange_ns: int | None = None
    recv_ns: int = 0
    deliver_ns: int = 0
    backfilled: bool = False
    detail: dict[str, Any] | None = None

    @property
    def is_market(self) -> bool:
        """Whether this is market data."""
        return self.type == MARKET


_DECODER = msgspec.json.Decoder(JournalEvent)
JOURNALED_TYPES = frozenset({MARKET, "gap"})

V1_VENUE = "binance-spot"
V1_MARKET: dict[str, tuple[str, str]] = {
    "trade": ("trade", "trade"),
    "aggTrade": ("trade", "aggTrade"),
    "depth": ("book", "depth"),
    "bookTicker": ("quote", "bookTicker"),
    "kline": ("bar", "kline"),
}
"""Schema 1 market types -> (channel, kind). Schema 1 journals only ever held Binance spot."""
V1_STREAM_CHANNEL = {
    "trade": "trade",
    "aggTrade": "trade",
    "depth": "book",
    "bookTicker": "quote",
    "kline": "bar",
}


def schema_version(path: Path) -> int | None:
    """The schema of a journal: its header's version, 1 for a journal without a header, None if empty."""
    with path.open("rb") as journal:
        first = journal.readline()
    if not first.strip():
        return None
    try:
        doc = msgspec.json.decode(first)
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested past msgspec's depth limit
        return 1
    if isinstance(doc, dict) and doc.get("type") == "schema":
        if doc.get("schema") != SCHEMA or not isinstance(doc.get("version"), int):
            raise JournalError(f"{path}:1: not a tickstorm events journal (header {first[:120]!r})")
        version: int = doc["version"]
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"{path}:1: schema version {version} is newer than this tickstorm reads ({SCHEMA_VERSION})"
            )
        return version
    return 1


def _upgrade_v1(event: JournalEvent) -> JournalEvent:
    """A schema 1 line as schema 2 (market types become ``market`` with channel and kind)."""
    event.venue = event.venue or V1_VENUE
    mapped = V1_MARKET.get(event.type)
    if mapped is not None:
        event.type = MARKET
        event.channel, event.kind = mapped
    elif event.stream:
        kind = event.stream.partition("@")[2]
        kind = "kline" if kind.startswith("kline") else kind.split("@", 1)[0]
        event.kind = kind
        event.channel = V1_STREAM_CHANNEL.get(kind, "")
    elif event.type in ("connection", "subscription"):
        event.channel = "status"
    if event.symbol:
        event.instrument = f"{event.venue}:{event.symbol}"
    return event


def _decode_line(line: bytes) -> JournalEvent:
    """One journal line; ``msgspec.DecodeError`` also for JSON nested past msgspec's depth limit."""
    try:
        return _DECODER.decode(line)
    except RecursionError as exc:
        raise msgspec.DecodeError(f"JSON nested too deeply ({exc})") from None


def read_journal(path: Path, *, skip_malformed: bool = False) -> Iterator[JournalEvent]:
    """Every event of a journal, in delivery order, as schema 2 (a torn last line from a kill is left out).

    A line that does not decode raises ``msgspec.DecodeError`` unless ``skip_malformed``.
    """
    if not path.exists():
        return
    version = schema_version(path)
    with path.open("rb") as journal:
        for line in journal:
            if not line.endswith(b"\n"):
                return  # torn write at the moment of the crash: that event was never delivered
            try:
                event = _decode_line(line)
            except msgspec.DecodeError:
                if not skip_malformed:
                    raise
                continue
            if event.type == "schema":
                continue
            yield _upgrade_v1(event) if version == 1 else event


def last_ids(path: Path) -> dict[tuple[str, str], int]:
    """Highest delivered-or-lost id per (venue, stream) in a journal (empty if the file does not exist)."""
    out: dict[tuple[str, str], int] = {}
    for event in read_journal(path, skip_malformed=True):
        if event.id is None or not event.stream or event.type not in JOURNALED_TYPES:
            continue
        key = (event.venue, event.stream)
        if event.id > out.get(key, -1):
            out[key] = event.id
    return out


def open_for_append(path: Path) -> None:
    """Make ``path`` ready for a resumed feed to append to: cut a torn last line, check the schema (a
    schema 1 journal is refused: appending would mix schemas), write the header into an empty file."""
    if not path.exists():
        return
    truncate_torn_tail(path)
    version = schema_version(path)
    if version is None:
        path.write_bytes(HEADER_LINE)
    elif version != SCHEMA_VERSION:
        raise JournalError(
            f"{path}: written with events schema {version}; a resumed feed appends schema {SCHEMA_VERSION} "
            "lines and will not mix them: move the old journal away and start without --resume"
        )


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
