"""One client WebSocket connection to a mock venue: the venue-neutral half.

:class:`SessionBase` keeps the connection's subscriptions (client stream name -> the replay stream that
feeds it, routed through the venue's publisher), enforces the per-connection limits every venue has
(incoming messages per second, the connection age limit), and offers the sending side the publisher uses:
frames are queued and flushed in batches, written with a precomputed RFC 6455 header instead of going
through the websockets protocol object. What a client's message means is the venue's:
:meth:`SessionBase.handle_control` (Binance's SUBSCRIBE/UNSUBSCRIBE/..., another venue's auth/subscribe).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from mock_venues.base.limits import MessageRateLimiter
from mock_venues.base.publisher import Route

if TYPE_CHECKING:
    from mock_venues.base.venue import VenueBase

CLOSE_TOO_MANY_REQUESTS = 1008


def text_frame_header(length: int) -> bytes:
    """RFC 6455 header of one unfragmented, unmasked (server-to-client) text frame of ``length`` bytes.

    Data frames are encoded here rather than through the websockets protocol object: for hundreds of
    thousands of small frames its per-frame Python serialization dominated the venue's CPU. Control frames
    (ping, pong, close) and control replies still go through websockets.
    """
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return b"\x81\x7e" + length.to_bytes(2, "big")
    return b"\x81\x7f" + length.to_bytes(8, "big")


class SessionBase:
    """A connected client: its subscriptions, its limits, and the send side used by the publisher."""

    def __init__(self, venue: VenueBase, conn: ServerConnection, session_id: int) -> None:
        self.venue = venue
        self.conn = conn
        self.id = session_id
        self.subscriptions: dict[str, str | None] = {}  # client stream name -> replay stream (None: no data)
        self._protocol = conn.protocol
        self._pending: list[bytes] = []  # encoded data frames waiting for the next flush
        self._rate = MessageRateLimiter(venue.config.max_incoming_per_second)

    # -- send side (called by the publisher) ---------------------------------------------------------

    @property
    def open(self) -> bool:
        """Whether frames can still be queued."""
        return self._protocol.state is State.OPEN

    def queue(self, frame: bytes) -> bool | None:
        """Queue one text frame (no socket write yet); a venue's session may return False to decline a
        message it does not deliver (the publisher then records no send)."""
        self._pending.append(text_frame_header(len(frame)))
        self._pending.append(frame)
        return None

    def flush(self) -> None:
        """Write every queued frame to the socket in one write (a burst costs one syscall, not one each)."""
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        transport = self.conn.transport
        if self.open and transport is not None and not transport.is_closing():
            transport.write(data)

    def buffered(self) -> int:
        """Bytes waiting in the transport's write buffer."""
        transport = self.conn.transport
        return transport.get_write_buffer_size() if transport is not None else 0

    async def drain(self) -> None:
        """Wait for the write buffer to drain (as-fast-as-possible replay only)."""
        with contextlib.suppress(ConnectionClosed, ConnectionError):
            await self.conn.drain()

    async def send_now(self, frame: bytes) -> None:
        """Send a control reply right away."""
        await self.conn.send(frame, text=True)

    # -- subscriptions -------------------------------------------------------------------------------

    def wrapping(self, client_stream: str) -> tuple[bytes, bytes]:
        """(prefix, suffix) around every payload of ``client_stream`` on this connection (none here)."""
        return b"", b""

    def subscribe(self, client_stream: str) -> None:
        """Start delivering ``client_stream`` (idempotent)."""
        if client_stream in self.subscriptions:
            return
        replay_stream = self.venue.replay_stream_for(client_stream)
        self.subscriptions[client_stream] = replay_stream
        if replay_stream is not None:
            prefix, suffix = self.wrapping(client_stream)
            route = Route(self, client_stream, prefix, suffix, self.venue.history.stream_id(client_stream))
            self.venue.publisher.add_route(replay_stream, route)

    def unsubscribe(self, client_stream: str) -> None:
        """Stop delivering ``client_stream`` (unknown names are ignored)."""
        replay_stream = self.subscriptions.pop(client_stream, None)
        if replay_stream is not None:
            self.venue.publisher.remove_route(replay_stream, self, client_stream)

    def resubscribe_all(self) -> None:
        """Route every subscription again (after :meth:`wrapping` changed)."""
        streams = list(self.subscriptions)
        for name in streams:
            self.unsubscribe(name)
        for name in streams:
            self.subscribe(name)

    # -- receive side ----------------------------------------------------------------------------------

    async def serve(self) -> None:
        """Read the client's messages until the connection ends or breaks a limit."""
        venue = self.venue
        lifetime = asyncio.get_running_loop().call_later(venue.config.max_connection_age_s, self._age_out)
        try:
            async for message in self.conn:
                if not self._rate.hit(time.monotonic_ns()):
                    venue.history.record_event(time.monotonic_ns(), "rate_limited", connection=self.id)
                    await self.conn.close(CLOSE_TOO_MANY_REQUESTS, "Too many requests")
                    return
                reply = self.handle_control(message)
                if reply is not None:
                    await self.send_now(reply)
        except ConnectionClosed:
            pass
        finally:
            lifetime.cancel()
            venue.publisher.remove_session(self)

    def _age_out(self) -> None:
        venue = self.venue
        venue.history.record_event(time.monotonic_ns(), "max_age_close", connection=self.id)
        venue.spawn(venue.close_session(self, venue.config.max_age_close_code, "Connection max age"))

    def handle_control(self, message: str | bytes) -> bytes | None:
        """Apply one client message; the reply frame to send, if any (the venue's protocol)."""
        raise NotImplementedError

    def shutdown_frame(self) -> bytes | None:
        """What the venue sends before a planned server shutdown on this connection (None: nothing)."""
        return None
