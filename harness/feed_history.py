"""The feed's delivery history as the harness reads it: the journal (``--jsonl``) in the events schema of
docs/events.md.

The harness judges the feed with its own code, so this reader is written from the schema, not taken from
the feed (which has its own reader for ``--resume``). It reads only the fields checkers use (the payload
``data`` too: a venue's history key may combine its fields). A journal must start with the schema header
this harness reads (version 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

SCHEMA = "tickstorm.events"
VERSION = 2
MARKET = "market"


class HistoryError(ValueError):
    """A journal this harness cannot read (the message names the file and what is wrong)."""


class FeedEventRow(msgspec.Struct, kw_only=True):
    """One delivered event, as far as the checkers are concerned."""

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
    data: Any = None  # the venue's fields (the venue's history key may combine several)


class _Header(msgspec.Struct):
    type: str
    schema: str = ""
    version: int = 0


_ROW = msgspec.json.Decoder(FeedEventRow)
_HEADER = msgspec.json.Decoder(_Header)


def read_feed_history(path: Path) -> Iterator[FeedEventRow]:
    """Every event the feed journaled, in delivery order (a torn last line, from a kill, is left out)."""
    with path.open("rb") as journal:
        first = journal.readline()
        try:
            header = _HEADER.decode(first)
        except (msgspec.DecodeError, msgspec.ValidationError):
            header = _Header("")
        if header.type != "schema" or header.schema != SCHEMA or header.version != VERSION:
            raise HistoryError(
                f"{path}:1: expected the {SCHEMA} schema header, version {VERSION} (got {first[:100]!r})"
            )
        for lineno, line in enumerate(journal, 2):
            if not line.endswith(b"\n"):
                return  # torn write at the moment of a kill: that event was never delivered
            try:
                yield _ROW.decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise HistoryError(f"{path}:{lineno}: not an event of the schema ({exc})") from None
