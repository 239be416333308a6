"""A venue's bare reference client: what a client connected straight to the venue (no proxy, no feed)
receives, for the venue check (``tickstorm venue-check``) and the latency ceiling.

A venue class says how such a client connects and reads the venue ids out of its frames
(:meth:`~mock_venues.base.venue.VenueBase.reference_client`); the harness drives it without knowing the
venue. :class:`ReferenceClient` records ids only; a venue with books adds its own book check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

FrameIds = Callable[[bytes], list[tuple[str, int]]]
TrueBook = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass
class ReferenceClient:
    """Connects to ``url``, sends ``subscribe`` frames, and records (stream, venue id, receive time)."""

    url: str
    frame_ids: FrameIds
    subscribe: list[str] = field(default_factory=list)
    received: dict[str, list[int]] = field(default_factory=dict)
    arrivals: list[tuple[str, int, int]] = field(default_factory=list)  # (stream, id, monotonic ns)

    def on_frame(self, frame: bytes, recv_ns: int) -> None:
        """Record one received frame."""
        for stream, ident in self.frame_ids(frame):
            self.received.setdefault(stream, []).append(ident)
            self.arrivals.append((stream, ident, recv_ns))

    async def after_frame(self, rest: Any) -> None:
        """Work a frame may start (a book snapshot over REST); nothing here."""

    async def finish(self, rest: Any, true_book: TrueBook) -> list[str]:
        """Checks at the end of the replay (books against the venue's true books); none here."""
        return []
