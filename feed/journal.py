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
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

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


REBASE = "rebase"
"""``detail`` key of a gap event after which a stream's ids start over from the venue's (a resumed journal
was ahead of the venue): the id check of :func:`resume_point` restarts there."""


@dataclass
class ResumePoint:
    """Where a resumed feed continues: per (venue, stream) the last delivered-or-lost id and its line."""

    path: Path
    ids: dict[tuple[str, str], int] = field(default_factory=dict)
    lines: dict[tuple[str, str], int] = field(default_factory=dict)

    def where(self, venue: str, stream: str) -> str:
        """``path:line`` of a stream's last id (for error messages)."""
        return f"{self.path}:{self.lines.get((venue, stream), 0)}"


def resume_point(path: Path) -> ResumePoint:
    """Read a journal a feed is about to resume from, trusting nothing (:class:`JournalError` naming the
    file and line otherwise): a schema 2 header on line 1, every complete line an event, and each stream's
    ids only going up. A torn last line (the feed was killed mid-write) is the normal case and is left out.
    """
    point = ResumePoint(path)
    if not path.exists():
        return point
    with path.open("rb") as journal:
        for number, line in enumerate(journal, 1):
            if not line.endswith(b"\n"):
                break  # torn by the kill: never delivered
            if number == 1:
                _check_header(path, line)
                continue
            try:
                event = _DECODER.decode(line)
            except msgspec.DecodeError as exc:
                raise JournalError(f"{path}:{number}: not a journal event ({exc})") from None
            if event.id is None or not event.stream or event.type not in JOURNALED_TYPES:
                continue
            key = (event.venue, event.stream)
            last = point.ids.get(key)
            rebase = event.type == "gap" and bool((event.detail or {}).get(REBASE))
            if last is not None and event.id <= last and not rebase:
                raise JournalError(
                    f"{path}:{number}: id {event.id} of {event.venue} {event.stream} goes back "
                    f"(line {point.lines[key]} had {last}): not a journal one feed wrote in order"
                )
            point.ids[key] = event.id
            point.lines[key] = number
    return point


def _check_header(path: Path, line: bytes) -> None:
    try:
        doc = msgspec.json.decode(line)
    except msgspec.DecodeError:
        doc = None
    if not (isinstance(doc, dict) and doc.get("type") == "schema"):
        raise JournalError(
            f"{path}:1: no events journal header (first line {line[:60]!r}): not a tickstorm journal; "
            "move it away or start without --resume"
        )
    if doc.get("schema") != SCHEMA or doc.get("version") != SCHEMA_VERSION:
        raise JournalError(
            f"{path}:1: a resumed feed appends {SCHEMA} version {SCHEMA_VERSION}, the journal says "
            f"{doc.get('schema')!r} version {doc.get('version')!r}: move it away or start without --resume"
        )


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


def open_sink(path: Path, *, append: bool) -> IO[bytes]:
    """The journal file opened for writing (``append``: after an earlier run's lines); its folder must
    exist (a mistyped path is not created). :class:`JournalError` naming the file when it cannot be opened."""
    if not path.parent.is_dir():
        problem = "is not a folder" if path.parent.exists() else "does not exist"
        raise JournalError(f"{path}: cannot write the journal: its folder {path.parent} {problem}")
    try:
        return path.open("ab" if append else "wb")
    except OSError as exc:
        raise JournalError(f"{path}: cannot write the journal ({exc.strerror or exc})") from None


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
