"""One message of the replay timeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tickstorm.recording import RecordingError


@dataclass(slots=True)
class Recorded:
    """A recorded venue message placed on the replay timeline.

    ``offset_ns`` is the time since the start of the timeline at which the recording received it (after
    amplification and looping); ``venue_id`` is the id a feed sequences it by (for Binance: depth ``u``,
    trade ``t``, aggTrade ``a``, bookTicker ``u``, snapshot ``lastUpdateId``, kline ``E``).
    """

    offset_ns: int
    symbol: str
    stream: str  # the recording's stream name, e.g. "btcusdt@depth@100ms"; "" for snapshots
    event: str  # the message type, e.g. "depthUpdate", "trade", "aggTrade", "bookTicker", "snapshot"
    data: dict[str, Any]
    venue_id: int


__all__ = ["Recorded", "RecordingError"]
