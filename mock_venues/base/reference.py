"""A venue's bare reference client: what a client connected straight to the venue (no proxy, no feed)
receives, for the venue check (``tickstorm venue-check``) and the latency ceiling.

A venue class says how such a client connects and reads the venue ids out of its frames
(:meth:`~mock_venues.base.venue.VenueBase.reference_client`); the harness drives it without knowing the
venue. :class:`ReferenceClient` records the ids of keyed messages and counts the others (messages whose
history key is a venue counter no frame carries); a venue with books adds its own book check. A venue whose
streams live on several endpoints gives one client per endpoint
(:meth:`~mock_venues.base.venue.VenueBase.reference_clients`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

FrameIds = Callable[[bytes], Sequence[tuple[str, int | None]]]
"""(stream, history key) of every message of one frame; None for a message the client cannot key."""
TrueBook = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass
class ReferenceClient:
    """Connects to ``url`` (with ``headers``), sends ``subscribe`` frames (text, or bytes sent as binary),
    and records (stream, venue id, receive time) of keyed messages and the count of unkeyed ones."""

    url: str
    frame_ids: FrameIds
    subscribe: list[str | bytes] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    received: dict[str, list[int]] = field(default_factory=dict)
    counted: dict[str, int] = field(default_factory=dict)  # stream -> messages that carry no key
    arrivals: list[tuple[str, int, int]] = field(default_factory=list)  # (stream, id, monotonic ns)

    def on_frame(self, frame: bytes, recv_ns: int) -> None:
        """Record one received frame."""
        for stream, ident in self.frame_ids(frame):
            if ident is None:
                self.counted[stream] = self.counted.get(stream, 0) + 1
                continue
            self.received.setdefault(stream, []).append(ident)
            self.arrivals.append((stream, ident, recv_ns))

    async def after_frame(self, rest: Any) -> None:
        """Work a frame may start (a book snapshot over REST); nothing here."""

    async def finish(self, rest: Any, true_book: TrueBook) -> list[str]:
        """Checks at the end of the replay (books against the venue's true books); none here."""
        return []
