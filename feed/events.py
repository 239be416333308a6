"""What the feed delivers: one event type for market data and for the feed's own state changes.

Every event carries the venue, symbol and stream, the venue's own id (trade id ``t``, aggregate id ``a``,
final update id ``u``; ``first_id`` holds a diff's ``U`` or the first id of a gap), and the receive and
delivery times (monotonic ns) so the harness can join the feed's history with the venue's.
"""

from __future__ import annotations

from typing import Any

import msgspec

MARKET_TYPES = frozenset({"trade", "aggTrade", "depth", "bookTicker", "kline"})
STATE_TYPES = frozenset(
    {"gap", "book_invalid", "book_resynced", "stale", "fresh", "connection", "subscription"}
)


class FeedEvent(msgspec.Struct, kw_only=True, gc=False):
    """One delivered event.

    ``type`` is a market type (trade, aggTrade, depth, bookTicker, kline) or a state type: ``gap`` (ids
    ``first_id``..``id`` will never be delivered; ``detail["reason"]`` says why), ``book_invalid`` /
    ``book_resynced`` (the local book of ``symbol`` stopped / started again being exact), ``stale`` /
    ``fresh`` (a stream went quiet for longer than its threshold / spoke again), ``connection`` (a WebSocket
    changed state), ``subscription`` (the venue refused or accepted a subscription).
    """

    type: str
    venue: str
    symbol: str = ""
    stream: str = ""
    id: int | None = None
    first_id: int | None = None
    recv_ns: int = 0
    deliver_ns: int = 0
    exchange_ms: int | None = None  # the venue's event time E
    backfilled: bool = False
    data: Any = None  # the decoded payload (market events) or None
    detail: dict[str, Any] | None = None  # state events: reason, counts, connection ids...

    @property
    def is_market(self) -> bool:
        """Whether this is market data (not a state change)."""
        return self.type in MARKET_TYPES


_ENCODER = msgspec.json.Encoder()


def to_json_line(event: FeedEvent) -> bytes:
    """One JSON object per event (``--jsonl``), payload included, newline-terminated."""
    return _ENCODER.encode(event) + b"\n"
