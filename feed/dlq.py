"""Dead letter queue: every frame the feed could not accept, with its raw bytes, stream, reason and time.

SQLite in WAL mode, so the file survives a killed feed process (committed rows are on disk) and can be read
by `tickstorm dlq` while the feed is writing. Inserts are batched: :meth:`DeadLetterQueue.put` appends to
memory and :meth:`flush` (called by the feed on a timer and on shutdown, and automatically past a batch
size) writes them in one transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_unix_ns INTEGER NOT NULL,
    venue TEXT NOT NULL,
    stream TEXT,
    reason TEXT NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_stream ON dead_letters(stream);
"""


class DLQError(Exception):
    """A dead letter queue file that cannot be opened or read (not SQLite, not a DLQ, damaged, its folder
    is a file); the message names the file."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected frame."""

    id: int
    received_unix_ns: int
    venue: str
    stream: str | None
    reason: str
    raw: bytes


class DeadLetterQueue:
    """A SQLite-backed dead letter queue (``with DeadLetterQueue(path) as dlq:``)."""

    def __init__(self, path: Path | str, *, batch_size: int = 256) -> None:
        self.path = Path(path)
        self.batch_size = batch_size
        self._pending: list[tuple[int, str, str | None, str, bytes]] = []
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise DLQError(
                f"{self.path}: cannot create the dead letter queue: {folder} is not a folder"
            ) from None
        except OSError as exc:
            raise DLQError(
                f"{self.path}: cannot create its folder {folder} ({exc.strerror or exc})"
            ) from None
        with self._reading():
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(SCHEMA)
                self.total = self.count()
            except BaseException:
                self._db.close()
                raise

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """SQLite errors while opening or reading the file as :class:`DLQError` naming the file."""
        try:
            yield
        except sqlite3.Error as exc:
            raise DLQError(f"{self.path}: not a usable dead letter queue ({exc})") from None

    def __enter__(self) -> DeadLetterQueue:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def put(
        self, venue: str, stream: str | None, reason: str, raw: bytes, received_unix_ns: int | None = None
    ) -> None:
        """Queue one rejected frame (written at the next flush)."""
        when = time.time_ns() if received_unix_ns is None else received_unix_ns
        self._pending.append((when, venue, stream, reason, bytes(raw)))
        self.total += 1
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> int:
        """Write queued rows in one transaction; returns how many were written."""
        if not self._pending:
            return 0
        rows, self._pending = self._pending, []
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO dead_letters (received_unix_ns, venue, stream, reason, raw)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def count(self) -> int:
        """Rows on disk (not counting unflushed ones)."""
        (n,) = self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()
        return int(n)

    def entries(self, *, stream: str | None = None, limit: int | None = None) -> Iterator[DeadLetter]:
        """Rows on disk, oldest first."""
        sql = "SELECT id, received_unix_ns, venue, stream, reason, raw FROM dead_letters"
        params: list[object] = []
        if stream is not None:
            sql += " WHERE stream = ?"
            params.append(stream)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._reading():
            for row in self._db.execute(sql, params):
                yield DeadLetter(row[0], row[1], row[2], row[3], row[4], bytes(row[5]))

    def get(self, entry_id: int) -> DeadLetter | None:
        """One row by id."""
        with self._reading():
            row = self._db.execute(
                "SELECT id, received_unix_ns, venue, stream, reason, raw FROM dead_letters WHERE id = ?",
                (entry_id,),
            ).fetchone()
        return None if row is None else DeadLetter(row[0], row[1], row[2], row[3], row[4], bytes(row[5]))

    def close(self) -> None:
        """Flush and close the database."""
        self.flush()
        self._db.close()
