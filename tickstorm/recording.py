"""The normalized recording format, and its one reader (mock venues replay it, the feed's static mode runs
it through the feed pipeline).

A recording is JSON Lines, optionally gzipped (``*.norm.jsonl[.gz]``): one object per received message::

    {"ts": <receive time, float seconds, or null>, "recv_ns": <exact receive time in ns, optional>,
     "src": "ws" | "rest" | "connect" | "config", "stream": <the venue's stream name or null>,
     "data": <the venue's payload, parsed>, "url": <REST or WebSocket URL, on rest/connect records>}

The container is venue-neutral; what ``stream`` and ``data`` mean is the venue's (each venue's replay and
static-mode code interprets them). :func:`read_recording` streams a file line by line and turns anything
unreadable into a :class:`RecordingError` that names the file and the line.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import orjson

SOURCES = ("ws", "rest", "connect", "config")


class RecordingError(ValueError):
    """A recording file that cannot be replayed (the message names the file and line)."""


@dataclass(slots=True)
class Record:
    """One line of a recording."""

    path: Path
    lineno: int
    src: str  # one of SOURCES
    time_ns: int | None  # receive time (recv_ns, else ts in ns)
    stream: str | None
    data: Any
    url: str | None

    def where(self) -> str:
        """``file:line`` for messages."""
        return f"{self.path}:{self.lineno}"


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def record_time_ns(obj: dict[str, Any]) -> int | None:
    """A record's receive time in ns: ``recv_ns`` when present, else ``ts`` (seconds) converted."""
    recv = obj.get("recv_ns")
    if isinstance(recv, int) and not isinstance(recv, bool):
        return recv
    ts = obj.get("ts")
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        return round(ts * 1e9)
    return None


def read_recording(path: Path) -> Iterator[Record]:
    """Every record of a recording, in file order; :class:`RecordingError` for anything unreadable (not
    gzip though named ``.gz``, truncated, not JSON, not an object, an unknown ``src``) and for a file
    without a single record (empty, or only blank lines)."""
    path = Path(path)
    records = 0
    try:
        with _open(path) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise RecordingError(f"{path}:{lineno}: not JSON ({exc})") from None
                if not isinstance(obj, dict):
                    raise RecordingError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
                src = obj.get("src")
                if src not in SOURCES:
                    raise RecordingError(
                        f"{path}:{lineno}: unknown src {src!r} (one of {', '.join(SOURCES)})"
                    )
                stream = obj.get("stream")
                url = obj.get("url")
                records += 1
                try:
                    time_ns = record_time_ns(obj)
                except OverflowError:  # e.g. "ts": 1e308 (found by tests/fuzz)
                    raise RecordingError(
                        f"{path}:{lineno}: receive time out of range (ts {obj.get('ts')!r})"
                    ) from None
                yield Record(
                    path,
                    lineno,
                    src,
                    time_ns,
                    stream if isinstance(stream, str) else None,
                    obj.get("data"),
                    url if isinstance(url, str) else None,
                )
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise RecordingError(f"{path}: cannot read ({exc})") from None
    if not records:
        raise RecordingError(f"{path}: empty recording (no records)")
