"""The downstream WebSocket server: consumers connect, subscribe per symbol/channel, receive events.

Built on the ``websockets`` asyncio server. Each connection becomes a
:class:`~feed.downstream.consumer.Consumer` registered with the :class:`~feed.downstream.hub.Hub`; the
connection's reader hands every client message
to the hub, which always answers (errors included) in the consumer's own ordered stream. Messages to the
client are written synchronously as ready-made text frames, so one event costs one encode, then a frame
header and a socket write per consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from feed.downstream.consumer import Consumer, SlowConsumerPolicy
from feed.downstream.hub import FeedView, Hub
from feed.downstream.metrics import DownstreamMetrics
from tickstorm.http_guard import origin_allowed
from tickstorm.ports import listening

log = logging.getLogger(__name__)

MAX_CLIENT_MESSAGE = 64 * 1024
WRITE_LIMIT = (64 * 1024, 16 * 1024)


def refuse_foreign_origin(connection: ServerConnection, request: Request) -> Response | None:
    """403 to an upgrade with a foreign ``Origin`` (a web page's cross-site WebSocket); clients that send
    no ``Origin``, a loopback one or their own IP URL connect (``tickstorm.http_guard.origin_allowed``)."""
    origin = request.headers.get("Origin")
    if origin_allowed(origin, request.headers.get("Host")):
        return None
    body = orjson.dumps({"error": f"refused: Origin {origin!r} is not a loopback origin"})
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return Response(403, "Forbidden", headers, body)


@dataclass(frozen=True)
class DownstreamOptions:
    """How the downstream server listens and treats slow consumers (see docs/downstream.md)."""

    host: str = "127.0.0.1"
    port: int = 0
    http_port: int | None = 0
    queue_capacity: int = 10_000
    policy: SlowConsumerPolicy = SlowConsumerPolicy.DROP_OLDEST
    grace_s: float = 5.0
    max_batch: int = 500
    send_buffer_bytes: int | None = 262_144

    @classmethod
    def from_settings(cls, settings: Any) -> DownstreamOptions:
        """From the feed's ``serve_*`` settings (``FeedSettings``)."""
        return cls(
            host=settings.serve_host,
            port=settings.serve_port or 0,
            http_port=settings.serve_http_port,
            queue_capacity=settings.serve_queue_capacity,
            policy=SlowConsumerPolicy(settings.serve_slow_policy),
            grace_s=settings.serve_slow_grace_s,
            max_batch=settings.serve_max_batch,
            send_buffer_bytes=settings.serve_send_buffer_bytes,
        )


def _text_header(length: int) -> bytes:
    """RFC 6455 header of an unmasked, final text frame of ``length`` payload bytes."""
    if length < 126:
        return bytes((0x81, length))
    if length < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


class WebSocketSink:
    """A consumer's view of its ``websockets`` server connection."""

    def __init__(self, connection: ServerConnection) -> None:
        self.connection = connection
        self._protocol = connection.protocol
        self._transport = connection.transport
        self._closing: asyncio.Task[None] | None = None

    @property
    def open(self) -> bool:
        """Whether the WebSocket is open."""
        return self._protocol.state is State.OPEN

    def writable(self) -> bool:
        """Open and its transport below the write high-water mark."""
        return self._protocol.state is State.OPEN and not self.connection.paused

    def write(self, payload: bytes) -> None:
        """One text message, written to the transport now.

        The frame is built here (server frames are unmasked, never fragmented, never compressed:
        ``compression=None``), which skips the library's per-frame objects on the hot path; control
        frames (ping, pong, close) still go through ``websockets`` and interleave at frame boundaries.
        """
        if self._protocol.state is State.OPEN:
            self._transport.write(_text_header(len(payload)) + payload)

    async def drain(self) -> None:
        """Wait for the transport to drain below its low-water mark; return at once if it is lost."""
        with contextlib.suppress(Exception):
            await self.connection.drain()

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake in the background."""
        if self._closing is None:
            self._closing = asyncio.create_task(self.connection.close(code, reason))


class DownstreamServer:
    """WebSocket server (and, via :mod:`feed.downstream.http_api`, the HTTP API) of one running feed."""

    def __init__(
        self,
        feed: FeedView,
        options: DownstreamOptions,
        *,
        metrics: DownstreamMetrics | None = None,
        instruments: Callable[[], frozenset[str]] | None = None,
    ) -> None:
        self.feed = feed
        self.options = options
        self.metrics = metrics or DownstreamMetrics()
        self.hub = Hub(feed, instruments or (lambda: frozenset()))
        self.metrics.consumers = lambda: len(self.hub.consumers)
        self.metrics.queued = lambda: sum(c.queued for c in self.hub.consumers)
        self._server: Server | None = None
        self._ids = itertools.count(1)
        self.port: int | None = None
        self.connections_total = 0

    @property
    def url(self) -> str:
        """The ``ws://`` URL consumers connect to."""
        return f"ws://{self.options.host}:{self.port}"

    async def start(self) -> None:
        """Listen (port 0 picks a free one; :attr:`port` tells which)."""
        with listening("downstream WebSocket server", self.options.host, self.options.port):
            self._server = await serve(
                self._handle,
                self.options.host,
                self.options.port,
                compression=None,  # shared frames; compression would cost CPU per consumer
                max_size=MAX_CLIENT_MESSAGE,
                max_queue=16,
                write_limit=WRITE_LIMIT,
                ping_interval=20,
                ping_timeout=20,
                close_timeout=2,
                backlog=2048,
                process_request=refuse_foreign_origin,
            )
        sock = next(iter(self._server.sockets))
        self.port = int(sock.getsockname()[1])

    async def stop(self) -> None:
        """Close every consumer connection and stop listening."""
        self.hub.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
        for consumer in list(self.hub.consumers):
            await consumer.stop()

    async def __aenter__(self) -> DownstreamServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def stats(self) -> dict[str, Any]:
        """Counters for /stats and reports."""
        consumers = sorted(self.hub.consumers, key=lambda c: (-c.dropped, -c.queued, c.name))
        m = self.metrics
        return {
            "consumers": len(consumers),
            "connections_total": self.connections_total,
            "events_seen": self.hub.events_seen,
            "events_encoded": self.hub.events_encoded,
            "events_sent": m.events_sent,
            "frames_sent": m.frames_sent,
            "events_dropped": m.events_dropped,
            "slow_disconnects": m.slow_disconnects,
            "policy": self.options.policy.value,
            "queue_capacity": self.options.queue_capacity,
            "slowest": [
                {"name": c.name, "dropped": c.dropped, "queued": c.queued, "high_water": c.high_water}
                for c in consumers[:10]
            ],
        }

    async def _handle(self, connection: ServerConnection) -> None:
        opts = self.options
        if opts.send_buffer_bytes is not None:
            sock = connection.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, opts.send_buffer_bytes)
        peer = connection.remote_address
        name = f"{peer[0]}:{peer[1]}#{next(self._ids)}" if peer else f"#{next(self._ids)}"
        consumer = Consumer(
            WebSocketSink(connection),
            capacity=opts.queue_capacity,
            policy=opts.policy,
            grace_s=opts.grace_s,
            max_batch=opts.max_batch,
            metrics=self.metrics,
            name=name,
        )
        self.connections_total += 1
        self.hub.add(
            consumer,
            {"consumer": name, "policy": opts.policy.value, "queue_capacity": opts.queue_capacity},
        )
        consumer.start()
        try:
            async for message in connection:
                self.hub.handle(consumer, message)
                if consumer.closed:
                    break
        except ConnectionClosed:
            pass
        finally:
            self.hub.remove(consumer)
            await consumer.stop()
