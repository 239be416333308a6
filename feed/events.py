"""What the feed delivers: one normalized event type for every venue, market data and state changes alike.

This is the only shape the journal (``--jsonl``), the downstream protocol, the harness's history join, the
checkers and the reports know; docs/events.md is its schema (version :data:`SCHEMA_VERSION`). Venue
adapters (``feed/<venue>/``) build these events; nothing downstream of them names a venue.

An event says where it comes from (``venue``: the venue instance, which is also the provider a failover
picks; ``instrument``: ``<venue>:<symbol>``; ``stream``: the venue's subscription unit, verbatim), what it
is (``type``: ``market`` or a state type; ``channel``: the normalized channel; ``kind``: the venue's own
stream kind), the venue's ids verbatim as its continuity fields (``id``, and ``first_id`` where one
message covers a range), the exchange's time and the feed's receive and delivery times.
"""

from __future__ import annotations

from typing import Any

import msgspec

SCHEMA = "tickstorm.events"
SCHEMA_VERSION = 2

MARKET = "market"
CHANNELS = ("trade", "quote", "book", "bar", "correction", "trading_status", "news", "status")
"""Normalized channels: trade (trades and aggregate trades), quote (best bid/ask), book (order book
updates), bar (candles), correction (a venue's correction or cancel of a trade it sent earlier, referring
to the original trade's id: never a rewrite of what was delivered), trading_status (halts, resumptions,
limit-up/limit-down bands), news (articles), status (feed-wide connection and subscription events; no
instrument)."""

STATE_TYPES = frozenset(
    {"gap", "book_invalid", "book_resynced", "stale", "fresh", "connection", "subscription"}
)
"""``gap``: continuity ids ``first_id``..``id`` of ``stream`` will never be delivered (``detail["reason"]``
says why); ``book_invalid``/``book_resynced``: the instrument's local book stopped/started being exact;
``stale``/``fresh``: a stream went quiet for longer than its threshold / spoke again; ``connection``: a
WebSocket of the venue changed state; ``subscription``: the venue refused or accepted a subscription."""

STATUS_TYPES = frozenset({"connection", "subscription"})
"""State types about a venue connection rather than one stream (channel ``status``, no instrument)."""


class FeedEvent(msgspec.Struct, kw_only=True, gc=False):
    """One delivered event (schema v2, docs/events.md)."""

    type: str  # "market", or one of STATE_TYPES
    venue: str  # the venue instance (provider) name, e.g. "binance-spot"
    channel: str = ""  # one of CHANNELS ("" only for events about no channel)
    instrument: str = ""  # "<venue>:<symbol>" ("" for status events)
    symbol: str = ""  # the venue's symbol, verbatim ("BTCUSDT")
    stream: str = ""  # the venue's stream, verbatim ("btcusdt@aggTrade"); "" for status events
    kind: str = ""  # the venue's stream kind ("aggTrade", "depth", "bookTicker", ...)
    id: int | None = None  # continuity id: the venue's own (trade t, aggregate a, final update u, ...)
    first_id: int | None = None  # first continuity id covered (a diff's U; a gap's first lost id)
    exchange_ns: int | None = None  # the venue's event time, Unix ns
    recv_ns: int = 0  # feed receive time, monotonic ns
    deliver_ns: int = 0  # feed delivery time, monotonic ns
    backfilled: bool = False  # recovered over REST rather than received live
    data: Any = None  # the decoded payload (market events)
    detail: dict[str, Any] | None = None  # state events: reason, counts, connection ids...

    @property
    def is_market(self) -> bool:
        """Whether this is market data (not a state change)."""
        return self.type == MARKET


def instrument_id(venue: str, symbol: str) -> str:
    """The venue-neutral instrument id: ``binance-spot:BTCUSDT``."""
    return f"{venue}:{symbol}"


_ENCODER = msgspec.json.Encoder()
HEADER = {"type": "schema", "schema": SCHEMA, "version": SCHEMA_VERSION}
"""The first line of every journal: which schema the lines below follow."""
HEADER_LINE = _ENCODER.encode(HEADER) + b"\n"


def to_json_line(event: FeedEvent) -> bytes:
    """One JSON object per event (``--jsonl``), payload included, newline-terminated."""
    return _ENCODER.encode(event) + b"\n"
