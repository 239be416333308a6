"""Spreads one venue's streams over its connections within the venue's limits.

At most ``max_streams`` streams per connection (Binance allows 1024; fewer spreads load and shrinks what
one disconnect takes away), one shared connection-attempt budget per venue (300 per 5 minutes per IP on
Binance), and live add/remove of streams without touching the other connections.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from feed.backoff import Backoff
from feed.connection import ConnectionOptions, StreamConnection
from feed.limits import AttemptBudget


def plan(
    streams: list[str],
    max_streams: int,
    existing: list[list[str]] | None = None,
    group_of: Callable[[str], str] = lambda stream: stream,
) -> list[list[str]]:
    """Assign streams to connections: fill existing connections up to ``max_streams``, then open new ones.

    Streams of one group (``group_of``: the symbol) stay together where possible (a symbol's book and
    trades share a fate).
    """
    if max_streams < 1:
        raise ValueError("max_streams must be >= 1")
    groups = [list(g) for g in existing] if existing else []
    assigned = {s for g in groups for s in g}
    todo = sorted((s for s in dict.fromkeys(streams) if s not in assigned), key=lambda s: (group_of(s), s))
    for stream in todo:
        target = next((g for g in groups if len(g) < max_streams), None)
        if target is None:
            target = []
            groups.append(target)
        target.append(stream)
    return groups


class ConnectionPool:
    """The set of :class:`StreamConnection` objects behind one feed."""

    def __init__(
        self,
        options: ConnectionOptions,
        *,
        max_streams: int,
        attempts: AttemptBudget,
        backoff_factory: Callable[[], Backoff],
        on_frame: Callable[[bytes, int], None],
        on_state: Callable[..., None],
        on_interrupted: Callable[[list[str]], None] | None = None,
        on_subscribed: Callable[[list[str]], None] | None = None,
        group_of: Callable[[str], str] = lambda stream: stream,
    ) -> None:
        self.options = options
        self._group_of = group_of
        self._on_interrupted = on_interrupted
        self._on_subscribed = on_subscribed
        self.max_streams = max_streams
        self.attempts = attempts
        self._backoff_factory = backoff_factory
        self._on_frame = on_frame
        self._on_state = on_state
        self.connections: list[StreamConnection] = []
        self._requests: dict[int, tuple[StreamConnection, list[str], str]] = {}

    def _new_connection(self, streams: list[str]) -> StreamConnection:
        conn = StreamConnection(
            streams,
            self.options,
            attempts=self.attempts,
            backoff=self._backoff_factory(),
            on_frame=self._on_frame,
            on_state=lambda state, **detail: self._on_state(state, slot=index, **detail),
            register_request=self._register,
            on_interrupted=self._on_interrupted,
            on_subscribed=self._on_subscribed,
        )
        index = len(self.connections)
        self.connections.append(conn)
        return conn

    def _register(self, request_id: int, conn: StreamConnection, streams: list[str], method: str) -> None:
        self._requests[request_id] = (conn, streams, method)

    def take_request(self, request_id: Any) -> tuple[StreamConnection, list[str], str] | None:
        """The request a control reply answers (and forget it)."""
        return self._requests.pop(request_id, None) if isinstance(request_id, int) else None

    @property
    def streams(self) -> list[str]:
        """Every stream the pool carries."""
        return [s for c in self.connections for s in c.streams]

    async def add(self, streams: list[str]) -> None:
        """Carry more streams: fill connections with room, open new ones for the rest."""
        current = [list(c.streams) for c in self.connections]
        groups = plan(streams, self.max_streams, current, self._group_of)
        for index, group in enumerate(groups):
            if index < len(self.connections):
                extra = [s for s in group if s not in self.connections[index].streams]
                if extra:
                    await self.connections[index].subscribe(extra)
            else:
                self._new_connection(group).start()

    async def remove(self, streams: list[str]) -> None:
        """Stop carrying streams; connections left empty are closed."""
        gone = set(streams)
        for conn in list(self.connections):
            mine = [s for s in conn.streams if s in gone]
            if mine:
                await conn.unsubscribe(mine)
            if not conn.streams:
                await conn.stop()
                self.connections.remove(conn)

    async def close(self) -> None:
        """Close every connection."""
        await asyncio.gather(*(c.stop() for c in self.connections), return_exceptions=True)
        self.connections.clear()


def backoff_factory(
    base_s: float, cap_s: float, stable_after_s: float, seed: int | None = None
) -> Callable[[], Backoff]:
    """A factory of independent backoffs (one per connection) sharing the settings."""
    rng = random.Random(seed)

    def make() -> Backoff:
        return Backoff(
            base_s=base_s, cap_s=cap_s, stable_after_s=stable_after_s, rng=random.Random(rng.random())
        )

    return make
