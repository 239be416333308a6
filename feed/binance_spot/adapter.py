"""The Binance spot adapter: everything the venue-neutral feed needs to ingest Binance spot.

Streams ``<symbol>@<kind>`` (:mod:`feed.binance_spot.streams`) on combined-stream connections
(``<ws_url>/stream``) subscribed with ``SUBSCRIBE`` control messages; frames decoded by
:class:`~feed.binance_spot.codec.BinanceSpotCodec`; books kept by Binance's snapshot + diff procedure
(:class:`~feed.binance_spot.book_sync.BookSync`); recovery over REST (depth snapshots, trade and aggregate
trade backfill by id: :class:`~feed.binance_spot.rest_client.RestClient`). Limits from the venue's
documentation (../shared/protocols/binance-spot.md): 1024 streams and 5 incoming messages per second per
connection, 300 connection attempts per 5 minutes per IP, 6000 REST weight per minute, connections cut
after 24 hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import orjson

from feed.adapter import Defaults, Login, StreamSpec, VenueLimits
from feed.binance_spot.book_sync import BookSync
from feed.binance_spot.codec import BinanceSpotCodec
from feed.binance_spot.rest_client import RestClient, depth_weight
from feed.binance_spot.streams import KLINE_INTERVALS, STREAM_KINDS, SYMBOL_RE, stream_spec
from feed.config import VenueSettings
from feed.limits import WeightBudget

SNAPSHOT_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)


class BinanceSpotAdapter:
    """Binance spot behind :class:`feed.adapter.VenueAdapter`."""

    name: ClassVar[str] = "binance-spot"
    limits: ClassVar[VenueLimits] = VenueLimits(
        max_streams_per_connection=1024,
        default_streams_per_connection=200,
        control_messages_per_second=5.0,
        default_control_messages_per_second=4.0,
        connection_attempts=300,
        default_connection_attempts=240,
        attempt_window_s=300.0,
        max_connection_age_s=24 * 3600.0,
        rest_weight_per_minute=6000,
        default_rest_weight_per_minute=3000,
        ping_interval_s=20.0,
    )
    defaults: ClassVar[Defaults] = Defaults(
        ws_url="wss://stream.binance.com:9443",
        rest_url="https://api.binance.com",
        symbols=("btcusdt",),
        streams=("trade", "depth@100ms", "bookTicker"),
        extra={"snapshot_limit": 1000},
    )

    def validate(self, settings: VenueSettings) -> list[str]:
        """Symbols ``[a-z0-9_]{2,30}`` (lower-cased here), known stream kinds, Binance snapshot sizes, and a
        REST budget that fits one snapshot."""
        problems = []
        settings.symbols = list(dict.fromkeys(s.lower() for s in settings.symbols))
        settings.streams = list(dict.fromkeys(settings.streams))
        if not settings.symbols:
            problems.append("symbols: at least one symbol is required")
        bad = [s for s in settings.symbols if not SYMBOL_RE.fullmatch(s)]
        if bad:
            problems.append(f"symbols: invalid symbol(s) {bad}: each must match [a-z0-9_]{{2,30}}")
        if not settings.streams:
            problems.append("streams: at least one stream is required")
        unknown = [s for s in settings.streams if s not in STREAM_KINDS]
        if unknown:
            problems.append(
                f"streams: unknown stream(s) {unknown}: use trade, aggTrade, depth, depth@100ms, "
                f"bookTicker or kline_<{'|'.join(KLINE_INTERVALS)}>"
            )
        if settings.snapshot_limit not in SNAPSHOT_LIMITS:
            problems.append(f"snapshot_limit: must be one of {', '.join(map(str, SNAPSHOT_LIMITS))}")
        elif settings.rest_weight_per_minute < (weight := depth_weight(settings.snapshot_limit)):
            problems.append(
                f"rest_weight_per_minute: must be >= {weight}, the weight of one depth snapshot with "
                f"snapshot_limit={settings.snapshot_limit}"
            )
        if settings.rest_url is None:
            problems.append("rest_url: Binance spot needs a REST URL (snapshots and backfill)")
        if settings.encoding != "json":
            problems.append("encoding: Binance spot streams speak JSON only")
        return problems

    def stream_specs(self, settings: VenueSettings) -> list[StreamSpec]:
        """Every symbol x every stream kind, e.g. ``btcusdt@trade``."""
        specs = [stream_spec(f"{symbol}@{kind}") for symbol in settings.symbols for kind in settings.streams]
        return [s for s in specs if s is not None]

    def parse_stream(self, name: str) -> StreamSpec | None:
        """The spec of a Binance spot stream name."""
        return stream_spec(name)

    def codec(self) -> BinanceSpotCodec:
        """Combined-stream frames to market items."""
        return BinanceSpotCodec()

    def book(self, spec: StreamSpec) -> BookSync:
        """Binance's local order book procedure for ``spec``'s symbol."""
        return BookSync(spec.symbol)

    def connection_url(self, settings: VenueSettings, streams: Sequence[str]) -> str:
        """The combined-stream endpoint; streams are subscribed with control messages."""
        return settings.ws_url.rstrip("/") + "/stream"

    def control_frames(self, method: str, streams: Sequence[str], request_id: int) -> list[str | bytes]:
        """One ``SUBSCRIBE``/``UNSUBSCRIBE`` message for all of ``streams``."""
        verb = {"subscribe": "SUBSCRIBE", "unsubscribe": "UNSUBSCRIBE"}[method]
        return [orjson.dumps({"method": verb, "params": list(streams), "id": request_id}).decode()]

    def login(self, settings: VenueSettings) -> Login | None:
        """Market streams need no login."""
        return None

    def recorded_frame(self, stream: str, data: Any) -> bytes:
        """The combined-stream wrapper around a recorded payload."""
        return b'{"stream":"' + stream.encode() + b'","data":' + orjson.dumps(data) + b"}"

    def recorded_snapshot(self, url: str, data: Any) -> str | None:
        """``/api/v3/depth?symbol=X`` (or the 2021 ``/api/v1/depth``) answers are snapshots of X's book."""
        parts = urlsplit(url)
        if not parts.path.endswith("/depth") or not isinstance(data, dict):
            return None
        return parse_qs(parts.query).get("symbol", [""])[0].upper() or None

    def recovery(self, settings: VenueSettings) -> RestClient:
        """Depth snapshots and trade backfill inside the REST weight budget."""
        assert settings.rest_url is not None
        return RestClient(
            settings.rest_url,
            WeightBudget(settings.rest_weight_per_minute),
            timeout_s=settings.rest_timeout_s,
            snapshot_limit=settings.snapshot_limit,
            max_pages=settings.backfill_max_pages,
        )
