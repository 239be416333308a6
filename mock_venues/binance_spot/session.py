"""One client WebSocket connection to the mock Binance spot venue: Binance's live control protocol.

SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET/GET_PROPERTY with Binance's replies and errors, the
streams-per-connection limit, and the combined-stream wrapper (``{"stream":...,"data":...}``) on
``/stream`` connections; everything else (send side, rate limit, age limit) is the venue-neutral
:class:`~mock_venues.base.session.SessionBase`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection

from mock_venues.base.session import SessionBase
from mock_venues.binance_spot import control_codec as codec

if TYPE_CHECKING:
    from mock_venues.binance_spot.server import BinanceSpotVenue


class Session(SessionBase):
    """A Binance spot client connection."""

    venue: BinanceSpotVenue

    def __init__(
        self, venue: BinanceSpotVenue, conn: ServerConnection, session_id: int, combined: bool
    ) -> None:
        super().__init__(venue, conn, session_id)
        self.combined = combined

    def wrapping(self, client_stream: str) -> tuple[bytes, bytes]:
        """The combined-stream wrapper on ``/stream`` connections, nothing on raw ones."""
        if not self.combined:
            return b"", b""
        return b'{"stream":"' + client_stream.encode() + b'","data":', b"}"

    def set_combined(self, combined: bool) -> None:
        """SET_PROPERTY combined: re-route every subscription with or without the wrapper."""
        if combined != self.combined:
            self.combined = combined
            self.resubscribe_all()

    def shutdown_frame(self) -> bytes | None:
        """Binance's ``serverShutdown`` event (wrapped on combined connections)."""
        body = b'{"e":"serverShutdown","E":%d}' % (time.time_ns() // 1_000_000)
        return b'{"stream":"!serverShutdown","data":' + body + b"}" if self.combined else body

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
