"""One message of the replay timeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Recorded:
    """A recorded venue message placed on the replay timeline.

    ``offset_ns`` is the time since the start of the timeline at which the recording received it (after
    amplification and looping); ``venue_id`` is the id a feed sequences it by (depth ``u``, trade ``t``,
    aggTrade ``a``, bookTicker ``u``, snapshot ``lastUpdateId``, kline ``E``).
    """

    offset_ns: int
    symbol: str
    stream: str  # combined-stream name, e.g. "btcusdt@depth@100ms"; "" for snapshots
    event: str  # "depthUpdate", "trade", "aggTrade", "bookTicker", "kline" or "snapshot"
    data: dict[str, Any]
    venue_id: int


class RecordingError(ValueError):
    """A recording file that cannot be replayed (the message names the file and line)."""
