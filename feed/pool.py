"""Spreads one venue's streams over its connections within the venue's limits.

At most ``max_streams`` streams per connection (Binance allows 1024; fewer spreads load and shrinks what
one disconnect takes away), one shared connection-attempt budget per venue (300 per 5 minutes per IP on
Binance), and live add/remove of streams without touching the other connections.

Venues with several endpoints (Alpaca: stocks, crypto, options and news each have their own URL) give each
stream its URL (``url_of``): streams of different URLs never share a connection, and ``max_connections``
(Alpaca: 1, a second session is refused) holds per URL. Replies without a request id (Alpaca's) answer the
oldest pending request of the connection they arrived on.
"""

from __future__ import annotations

import asyncio
import dataclasses
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


class PoolLimitError(ValueError):
    """More connections would be needed than the venue allows (``max_connections`` per URL)."""


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
        url_of: Callable[[str], str] | None = None,
        max_connections: int | None = None,
    ) -> None:
        self.options = options
        self._url_of = url_of
        self.max_connections = max_connections
        self.receiving: StreamConnection | None = None  # the connection whose frame is being handled
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

    def url_of(self, stream: str) -> str:
        """The URL of the connection that carries ``stream``."""
        return self._url_of(stream) if self._url_of is not None else self.options.url

    def _new_connection(self, streams: list[str]) -> StreamConnection:
        url = self.url_of(streams[0]) if streams else self.options.url
        options = self.options if url == self.options.url else dataclasses.replace(self.options, url=url)
        on_frame = self._on_frame

        def received(frame: bytes, recv_ns: int) -> None:
            self.receiving = conn
            try:
                on_frame(frame, recv_ns)
            finally:
                self.receiving = None

        conn = StreamConnection(
            streams,
            options,
            attempts=self.attempts,
            backoff=self._backoff_factory(),
            on_frame=received,
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
        """The request a control reply answers (and forget it). A reply without an id answers the oldest
        pending request of the connection it arrived on (venues that answer in order, without ids)."""
        if request_id is None:
            conn = self.receiving
            for rid, request in self._requests.items():  # insertion order: oldest first
                if conn is None or request[0] is conn:
                    del self._requests[rid]
                    return request
            return None
        return self._requests.pop(request_id, None) if isinstance(request_id, int) else None

    @property
    def streams(self) -> list[str]:
        """Every stream the pool carries."""
        return [s for c in self.connections for s in c.streams]

    async def add(self, streams: list[str]) -> None:
        """Carry more streams: fill connections with room, open new ones for the rest (per URL; more
        than ``max_connections`` per URL raises :class:`PoolLimitError` and changes nothing)."""
        by_url: dict[str, list[str]] = {}
        for stream in streams:
            by_url.setdefault(self.url_of(stream), []).append(stream)
        plans: list[tuple[list[StreamConnection], list[list[str]]]] = []
        for url, todo in by_url.items():
            mine = [c for c in self.connections if c.options.url == url]
            groups = plan(todo, self.max_streams, [list(c.streams) for c in mine], self._group_of)
            if self.max_connections is not None and len(groups) > self.max_connections:
                raise PoolLimitError(
                    f"{url}: {len(groups)} connections of {self.max_streams} streams would be needed, "
                    f"the venue allows {self.max_connections}"
                )
            plans.append((mine, groups))
        for mine, groups in plans:
            for index, group in enumerate(groups):
                if index < len(mine):
                    extra = [s for s in group if s not in mine[index].streams]
                    if extra:
                        await mine[index].subscribe(extra)
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
