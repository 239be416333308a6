"""A synchronous downstream client (``websocket-client``): works in plain threads and under gevent.

Locust runs on gevent, where the asyncio ``websockets`` client cannot run; ``websocket-client`` is a
blocking client whose sockets gevent's monkey patching makes cooperative. :class:`FeedClient` speaks the
downstream protocol (docs/downstream.md) and, with a :class:`HistoryWriter`, records every subscription
change and every received event's (stream, id) for the history join (:mod:`harness.load.history`).
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
import websocket

MARKET = "market"

# History records, one JSON array per line (a source is "<venue>/<stream>"):
#   ["s", at, instrument, [channels]]  subscribed (``at``: the feed's delivered count at that point)
#   ["u", at, instrument, [channels]]  unsubscribed
#   ["e", instrument, channel, source, id]   an event with a venue id
#   ["g", instrument, channel, source, first_id, id, count, reason]   a gap event (the feed's, or this
#                                      consumer's overflow)
#   ["x"]                              the client closed: the history ends here


class HistoryWriter:
    """Appends one subscriber's history records to a file (buffered; :meth:`close` flushes)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh: IO[bytes] | None = path.open("ab", buffering=1 << 16)

    def write(self, record: list[Any]) -> None:
        """Append one record."""
        if self._fh is not None:
            self._fh.write(orjson.dumps(record) + b"\n")

    def close(self) -> None:
        """Mark the end and close the file."""
        if self._fh is not None:
            self.write(["x"])
            self._fh.close()
            self._fh = None


@dataclass
class Frame:
    """One received WebSocket message: its events and control messages, parsed."""

    messages: list[dict[str, Any]]
    nbytes: int
    received_wall_s: float


@dataclass
class ClientCounters:
    """What a client received."""

    frames: int = 0
    events: int = 0
    bytes: int = 0
    gaps: int = 0
    gap_events_lost: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


class FeedClient:
    """One consumer connection to the feed's downstream WebSocket server."""

    def __init__(
        self,
        url: str,
        *,
        history: HistoryWriter | None = None,
        recv_buffer_bytes: int | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.history = history
        self.recv_buffer_bytes = recv_buffer_bytes
        self.timeout_s = timeout_s
        self.ws: websocket.WebSocket | None = None
        self.welcome: dict[str, Any] = {}
        self.counters = ClientCounters()
        self._ids = itertools.count(1)

    def connect(self) -> dict[str, Any]:
        """Open the connection and read the welcome message."""
        sockopt: list[tuple[int, int, int]] = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        if self.recv_buffer_bytes is not None:
            sockopt.append((socket.SOL_SOCKET, socket.SO_RCVBUF, self.recv_buffer_bytes))
        self.ws = websocket.create_connection(
            self.url, timeout=self.timeout_s, sockopt=tuple(sockopt), skip_utf8_validation=True
        )
        frame = self.read()
        self.welcome = frame.messages[0] if frame.messages else {}
        return self.welcome

    def request(self, op: str, instrument: str | None = None, channels: list[str] | None = None) -> int:
        """Send a subscribe/unsubscribe/list request (``instrument``: an instrument id, or a symbol that
        names one); returns its id (the reply comes in order)."""
        assert self.ws is not None, "not connected"
        request_id = next(self._ids)
        body: dict[str, Any] = {"op": op, "id": request_id}
        if instrument is not None:
            body["instrument"] = instrument
        if channels is not None:
            body["channels"] = channels
        self.ws.send(orjson.dumps(body).decode())
        return request_id

    def send_raw(self, text: str) -> None:
        """Send any text (tests of bad input)."""
        assert self.ws is not None, "not connected"
        self.ws.send(text)

    def read(self) -> Frame:
        """Block until one message arrives; parse it and record it in the history."""
        assert self.ws is not None, "not connected"
        data = self.ws.recv()
        now = time.time()
        raw = data.encode() if isinstance(data, str) else data
        messages = [orjson.loads(line) for line in raw.split(b"\n") if line]
        c = self.counters
        c.frames += 1
        c.bytes += len(raw)
        history = self.history
        for msg in messages:
            kind = msg.get("type")
            ident = msg.get("id")
            stream = msg.get("stream")
            source = f"{msg.get('venue')}/{stream}" if stream else None
            if kind == "gap":
                c.gaps += 1
                detail = msg.get("detail") or {}
                c.gap_events_lost += int(detail.get("count") or 0)
                if history is not None:
                    where = [msg.get("instrument"), msg.get("channel"), source]
                    lost = [msg.get("first_id"), ident, detail.get("count"), detail.get("reason")]
                    history.write(["g", *where, *lost])
            elif kind in ("subscribed", "unsubscribed"):
                if history is not None:
                    history.write([kind[0], msg["at"], msg["instrument"], msg["channels"]])
            elif kind == "error":
                c.errors.append(msg)
            elif kind == MARKET and stream and ident is not None:
                c.events += 1
                if history is not None:
                    history.write(["e", msg.get("instrument"), msg.get("channel"), source, ident])
        return Frame(messages, len(raw), now)

    def close(self) -> None:
        """Close the connection and the history."""
        if self.ws is not None:
            with contextlib.suppress(Exception):  # closing a broken socket must not fail the caller
                self.ws.close(timeout=1)
            self.ws = None
        if self.history is not None:
            self.history.close()
