"""Venue history: every message a mock venue sent, per connection, in columnar storage.

One row per frame written to a client: connection id, stream, the venue's own id for the message (trade id,
aggregate id, final update id, ...), the send time the replay schedule intended and the actual send time
(both monotonic ns), and a flag for messages a venue fault altered. Faults and connection events are kept
beside it with their times. Columns are ``array('q')``/``array('b')`` so a compressed one-hour run costs a
few tens of MB, not a dict per message.

Checkers join this history with the feed's delivery history on (stream, venue id); latency is measured from
``intended_ns`` so a late sender cannot hide latency (coordinated omission).
"""

from __future__ import annotations

import enum
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

HISTORY_FORMAT = "tickstorm.venue-history/1"


class SendFlag(enum.IntEnum):
    """How a sent frame relates to the replayed message."""

    NORMAL = 0
    DUPLICATE = 1  # a second copy sent by a duplicate fault
    CORRUPTED = 2  # malformed bytes sent in place of the message by a corrupt fault
    REORDERED = 3  # sent after its successor by a reorder fault


@dataclass(frozen=True, slots=True)
class SentRow:
    """One frame a venue wrote to one connection."""

    connection: int
    stream: str
    venue_id: int
    intended_ns: int
    actual_ns: int
    flag: SendFlag


@dataclass(frozen=True, slots=True)
class EventRow:
    """A fault applied or a connection event (open, close, subscribe ...) with its monotonic time."""

    time_ns: int
    event: str
    detail: dict[str, Any]


@dataclass
class VenueHistory:
    """Append-only columnar log of what a venue sent, plus its faults and connection events."""

    streams: list[str] = field(default_factory=list)
    _stream_index: dict[str, int] = field(default_factory=dict)
    connection: array = field(default_factory=lambda: array("q"))
    stream_idx: array = field(default_factory=lambda: array("q"))
    venue_id: array = field(default_factory=lambda: array("q"))
    intended_ns: array = field(default_factory=lambda: array("q"))
    actual_ns: array = field(default_factory=lambda: array("q"))
    flag: array = field(default_factory=lambda: array("b"))
    events: list[EventRow] = field(default_factory=list)

    def stream_id(self, stream: str) -> int:
        """The small integer that stands for ``stream`` in the columns (allocated on first use)."""
        idx = self._stream_index.get(stream)
        if idx is None:
            idx = self._stream_index[stream] = len(self.streams)
            self.streams.append(stream)
        return idx

    def record_send(
        self,
        connection: int,
        stream_id: int,
        venue_id: int,
        intended_ns: int,
        actual_ns: int,
        flag: int = SendFlag.NORMAL,
    ) -> None:
        """Append one sent frame (hot path: plain array appends)."""
        self.connection.append(connection)
        self.stream_idx.append(stream_id)
        self.venue_id.append(venue_id)
        self.intended_ns.append(intended_ns)
        self.actual_ns.append(actual_ns)
        self.flag.append(flag)

    def record_event(self, time_ns: int, event: str, /, **detail: Any) -> None:
        """Append a fault or connection event."""
        self.events.append(EventRow(time_ns, event, detail))

    def __len__(self) -> int:
        return len(self.venue_id)

    def rows(self, *, connection: int | None = None, stream: str | None = None) -> Iterator[SentRow]:
        """Iterate sent rows, optionally only one connection's or one stream's."""
        want_stream = self._stream_index.get(stream, -1) if stream is not None else None
        streams = self.streams
        for i in range(len(self.venue_id)):
            if connection is not None and self.connection[i] != connection:
                continue
            if want_stream is not None and self.stream_idx[i] != want_stream:
                continue
            yield SentRow(
                self.connection[i],
                streams[self.stream_idx[i]],
                self.venue_id[i],
                self.intended_ns[i],
                self.actual_ns[i],
                SendFlag(self.flag[i]),
            )

    def ids(self, stream: str, *, connection: int | None = None, normal_only: bool = True) -> list[int]:
        """Venue ids sent on ``stream`` in send order (by default without duplicates/corrupted copies)."""
        return [
            row.venue_id
            for row in self.rows(connection=connection, stream=stream)
            if not normal_only or row.flag in (SendFlag.NORMAL, SendFlag.REORDERED)
        ]

    def lateness_ns(self) -> array:
        """Actual minus intended send time of every row (how late the sender was)."""
        return array("q", (a - i for a, i in zip(self.actual_ns, self.intended_ns, strict=True)))

    def summary(self) -> dict[str, Any]:
        """Counts per stream and per connection (keyed by the id as a string: JSON keys are strings), and
        the number of events by kind."""
        per_stream: dict[str, int] = {}
        for idx in self.stream_idx:
            name = self.streams[idx]
            per_stream[name] = per_stream.get(name, 0) + 1
        per_connection: dict[str, int] = {}
        for conn in self.connection:
            key = str(conn)
            per_connection[key] = per_connection.get(key, 0) + 1
        events: dict[str, int] = {}
        for ev in self.events:
            events[ev.event] = events.get(ev.event, 0) + 1
        return {
            "sent": len(self),
            "per_stream": per_stream,
            "per_connection": per_connection,
            "events": events,
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole history as JSON-able data (columns as lists)."""
        return {
            "format": HISTORY_FORMAT,
            "streams": self.streams,
            "columns": {
                "connection": self.connection.tolist(),
                "stream": self.stream_idx.tolist(),
                "venue_id": self.venue_id.tolist(),
                "intended_ns": self.intended_ns.tolist(),
                "actual_ns": self.actual_ns.tolist(),
                "flag": self.flag.tolist(),
            },
            "events": [{**e.detail, "time_ns": e.time_ns, "event": e.event} for e in self.events],
        }

    def dump(self, path: Path) -> None:
        """Write the whole history as one JSON document for other processes."""
        path.write_bytes(orjson.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: Path) -> VenueHistory:
        """Read a history written by :meth:`dump`."""
        try:
            return cls.from_dict(orjson.loads(path.read_bytes()))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> VenueHistory:
        """Rebuild a history from :meth:`to_dict` output (e.g. fetched from another process)."""
        if doc.get("format") != HISTORY_FORMAT:
            raise ValueError(f"not a tickstorm venue history (format {doc.get('format')!r})")
        history = cls()
        for name in doc["streams"]:
            history.stream_id(name)
        cols = doc["columns"]
        history.connection.extend(cols["connection"])
        history.stream_idx.extend(cols["stream"])
        history.venue_id.extend(cols["venue_id"])
        history.intended_ns.extend(cols["intended_ns"])
        history.actual_ns.extend(cols["actual_ns"])
        history.flag.extend(cols["flag"])
        for ev in doc["events"]:
            detail = {k: v for k, v in ev.items() if k not in ("time_ns", "event")}
            history.events.append(EventRow(ev["time_ns"], ev["event"], detail))
        return history
