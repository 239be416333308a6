"""One client WebSocket connection to the mock Binance spot venue.

Handles the live control protocol (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET/GET_PROPERTY) with
Binance's replies and errors, Binance's per-connection limits (incoming messages per second, streams per
connection), the connection lifetime cut (24 h on the real venue, a parameter here) and the sending side
the publisher uses: frames are queued on the websockets sans-I/O protocol object and flushed in batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from mock_venues.binance_spot import control_codec as codec
from mock_venues.binance_spot.limits import MessageRateLimiter
from mock_venues.binance_spot.publisher import Route

if TYPE_CHECKING:
    from mock_venues.binance_spot.server import BinanceSpotVenue

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


class Session:
    """A connected client: its subscriptions, its limits, and the send side used by the publisher."""

    def __init__(
        self, venue: BinanceSpotVenue, conn: ServerConnection, session_id: int, combined: bool
    ) -> None:
        self.venue = venue
        self.conn = conn
        self.id = session_id
        self.combined = combined
        self.subscriptions: dict[str, str | None] = {}  # client stream name -> replay stream (None: no data)
        self._protocol = conn.protocol
        self._pending: list[bytes] = []  # encoded data frames waiting for the next flush
        self._rate = MessageRateLimiter(venue.config.max_incoming_per_second)

    # -- send side (called by the publisher) ---------------------------------------------------------

    @property
    def open(self) -> bool:
        """Whether frames can still be queued."""
        return self._protocol.state is State.OPEN

    def queue(self, frame: bytes) -> None:
        """Queue one text frame (no socket write yet)."""
        self._pending.append(text_frame_header(len(frame)))
        self._pending.append(frame)

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

    def subscribe(self, client_stream: str) -> None:
        """Start delivering ``client_stream`` (idempotent)."""
        if client_stream in self.subscriptions:
            return
        replay_stream = self.venue.replay_stream_for(client_stream)
        self.subscriptions[client_stream] = replay_stream
        if replay_stream is not None:
            prefix = b'{"stream":"' + client_stream.encode() + b'","data":' if self.combined else None
            route = Route(self, client_stream, prefix, self.venue.history.stream_id(client_stream))
            self.venue.publisher.add_route(replay_stream, route)

    def unsubscribe(self, client_stream: str) -> None:
        """Stop delivering ``client_stream`` (unknown names are ignored, like Binance)."""
        replay_stream = self.subscriptions.pop(client_stream, None)
        if replay_stream is not None:
            self.venue.publisher.remove_route(replay_stream, self, client_stream)

    def set_combined(self, combined: bool) -> None:
        """SET_PROPERTY combined: re-route every subscription with or without the wrapper."""
        if combined == self.combined:
            return
        streams = list(self.subscriptions)
        for name in streams:
            self.unsubscribe(name)
        self.combined = combined
        for name in streams:
            self.subscribe(name)

    # -- receive side ----------------------------------------------------------------------------------

    async def serve(self) -> None:
        """Read control messages until the connection ends or hits a limit."""
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
        """Apply one control message and return the reply frame (Binance's result or error shape)."""
        parsed = codec.parse_control(message)
        if isinstance(parsed, codec.ControlError):
            return codec.encode_error(parsed.id, parsed.code, parsed.msg)
        method = parsed.method
        if method == "SUBSCRIBE":
            return self._handle_subscribe(parsed)
        if method == "UNSUBSCRIBE":
            for name in parsed.params:
                self.unsubscribe(name)
            self.venue.history.record_event(
                time.monotonic_ns(), "unsubscribe", connection=self.id, streams=list(parsed.params)
            )
            return codec.encode_result(parsed.id, None)
        if method == "LIST_SUBSCRIPTIONS":
            return codec.encode_result(parsed.id, list(self.subscriptions))
        if method == "SET_PROPERTY":
            self.set_combined(bool(parsed.params[1]))
            return codec.encode_result(parsed.id, None)
        if method == "GET_PROPERTY":
            return codec.encode_result(parsed.id, self.combined)
        return codec.encode_error(parsed.id, 2, f"Invalid request: unknown method {method}")

    def _handle_subscribe(self, parsed: Any) -> bytes:
        venue = self.venue
        now = time.monotonic_ns()
        names: list[str] = list(parsed.params)
        for name in names:
            if venue.faults.refuse_subscription(name, now):
                venue.history.record_event(now, "subscribe_refused", connection=self.id, stream=name)
                return codec.encode_error(parsed.id, venue.config.refuse_code, venue.config.refuse_msg)
        new = [n for n in names if n not in self.subscriptions]
        if len(self.subscriptions) + len(new) > venue.config.max_streams_per_connection:
            limit = venue.config.max_streams_per_connection
            return codec.encode_error(parsed.id, 2, f"Invalid request: too many streams (max {limit})")
        for name in new:
            self.subscribe(name)
        venue.history.record_event(now, "subscribe", connection=self.id, streams=names)
        return codec.encode_result(parsed.id, None)
