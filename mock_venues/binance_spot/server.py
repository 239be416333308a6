"""The mock Binance spot venue: WebSocket streams, REST and a control API around one replay timeline.

``async with BinanceSpotVenue(VenueConfig(recordings=[...])) as venue:`` starts everything on loopback and
exposes ``venue.ws_url``, ``venue.rest_url`` and ``venue.control_url``. The venue-neutral parts (servers,
replay, faults, history, control API) are :class:`~mock_venues.base.venue.VenueBase`; this module adds
Binance's: the handshake paths, the session protocol (:mod:`mock_venues.binance_spot.session`), the
market model (:mod:`mock_venues.binance_spot.model`), the REST API (:mod:`mock_venues.binance_spot.rest`)
and the Binance tape that reads the recordings (:mod:`mock_venues.binance_spot.tape`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote

import orjson
from aiohttp import web
from websockets.asyncio.server import ServerConnection

from mock_venues.base.limits import WeightLimiter
from mock_venues.base.rest_faults import RestFaults
from mock_venues.base.session import SessionBase
from mock_venues.base.venue import HandshakeError as BaseHandshakeError
from mock_venues.base.venue import VenueBase, VenueConfig
from mock_venues.binance_spot import streams as stream_names
from mock_venues.binance_spot.book import TrueBook
from mock_venues.binance_spot.market import MarketState, RestRequestRecord
from mock_venues.binance_spot.model import BinanceSpotModel
from mock_venues.binance_spot.reference import BinanceReferenceClient
from mock_venues.binance_spot.rest import build_rest_app
from mock_venues.binance_spot.session import Session
from mock_venues.binance_spot.tape import binance_source
from mock_venues.binance_spot.trade_store import TradeStore
from mock_venues.recordings import recorded_exchange_info
from mock_venues.replay.source import ReplaySource

VENUE_NAME = "binance-spot"
# Where a client stream's data comes from when the recording carries another cadence of the same stream.
DEPTH_FALLBACKS = ("@depth@100ms", "@depth@0ms", "@depth")

__all__ = ["BinanceSpotVenue", "Endpoint", "HandshakeError", "VenueConfig", "parse_endpoint"]


class HandshakeError(BaseHandshakeError):
    """A WebSocket upgrade request the venue refuses: HTTP status and Binance's ``{"code","msg"}`` body."""

    def __init__(self, status: HTTPStatus, code: int, msg: str) -> None:
        super().__init__(msg, status, orjson.dumps({"code": code, "msg": msg}))
        self.code = code
        self.msg = msg


@dataclass(frozen=True)
class Endpoint:
    """What a client asked for in the upgrade URL."""

    combined: bool
    streams: tuple[str, ...]  # valid stream names, subscribed at connect
    ignored: tuple[str, ...] = ()  # names in the URL that are not stream names: accepted, never delivered


# Handshake rules of the stream host. Sources (details and the unverified points in docs/venue.md):
# [doc] binance-spot-api-docs web-socket-streams.md / CHANGELOG.md / errors.md; [obs] what clients send
# and report against the real host. Where neither says anything the mock's choice is marked [unverified].
TIME_UNITS_MS = frozenset({"MILLISECOND", "millisecond"})  # [doc] 2024-12-17: the only four values
TIME_UNITS_US = frozenset({"MICROSECOND", "microsecond"})
# [doc] errors.md -1194 INVALID_TIME_UNIT (REST and WebSocket API); that the stream host refuses an invalid
# value at the handshake with it, and with HTTP 400, is [unverified].
INVALID_TIME_UNIT = (-1194, "Invalid value for time unit; expected either MICROSECOND or MILLISECOND.")
# The mock's own refusals (unknown path, microseconds) use code -1: the real host's status and body for
# other paths are not documented [unverified], and microseconds are a limitation of the mock, not Binance's.
MOCK_REFUSAL_CODE = -1


def parse_endpoint(path: str) -> Endpoint:
    """Map an upgrade path (``/ws``, ``/ws/<s>[/<s>...]``, ``/stream``, ``/stream?streams=a/b``).

    Names in the URL that are not stream names are accepted and ignored, never refused: ccxt connects to
    ``/ws/0``, ``/ws/1``... and subscribes afterwards, user-data clients put a listenKey there, and clients
    that sent malformed names (upper-case symbols, wrong case of the stream type) report that the real
    host opened the connection and sent nothing [obs]. Raises :class:`HandshakeError` for an unknown path
    (404), an invalid ``timeUnit`` (400) and ``timeUnit=MICROSECOND`` (501: valid on Binance, not
    implemented by this mock, which would otherwise send milliseconds to a client that asked for µs).
    """
    # A request target is a path and a query (`urlsplit` would read `//ws/...` as a host name).
    raw_path, _, raw_query = path.partition("?")
    # `+` stays a plus sign (stream names such as `btcusdt@kline_1m@+08:00` carry one; none has a space).
    query: dict[str, list[str]] = {}
    for key, value in parse_qsl(raw_query.replace("+", "%2B"), keep_blank_values=True):
        query.setdefault(key, []).append(value)
    units = query.get("timeUnit")
    if units is not None:
        unit = units[0]
        if unit in TIME_UNITS_US:
            raise HandshakeError(
                HTTPStatus.NOT_IMPLEMENTED,
                MOCK_REFUSAL_CODE,
                f"timeUnit={unit} is valid on Binance but not implemented by this mock venue "
                "(it sends milliseconds only)",
            )
        if unit not in TIME_UNITS_MS:
            raise HandshakeError(HTTPStatus.BAD_REQUEST, *INVALID_TIME_UNIT)
    # [doc] URL-encoded URLs are accepted (CHANGELOG 2025-12-02): decode before splitting, so an encoded `/`
    # separates names too. Repeated slashes collapse and a trailing slash is dropped ([doc] mentions
    # `/stream/`; `/ws/` and `//ws` are [unverified]).
    route = re.sub(r"/{2,}", "/", unquote(raw_path)).rstrip("/") or "/"
    if route == "/stream":
        names = [n for value in query.get("streams", []) for n in value.split("/") if n]
        combined = True
    elif route == "/ws" or route.startswith("/ws/"):
        names, combined = [n for n in route[4:].split("/") if n], False
    else:
        raise HandshakeError(HTTPStatus.NOT_FOUND, MOCK_REFUSAL_CODE, f"unknown path {raw_path!r}")
    streams = [n for n in names if stream_names.parse_stream(n) is not None]
    ignored = [n for n in names if stream_names.parse_stream(n) is None]
    return Endpoint(combined, tuple(dict.fromkeys(streams)), tuple(dict.fromkeys(ignored)))


class BinanceSpotVenue(VenueBase):
    """A running mock Binance spot venue (async context manager)."""

    name: ClassVar[str] = VENUE_NAME
    description: ClassVar[str] = "mock Binance spot: WebSocket streams, REST, control API"
    default_recording: ClassVar[str] = "spot-btcusdt"
    recording_formats: ClassVar[frozenset[str]] = frozenset({"binance"})

    check_sets: ClassVar[tuple[tuple[str, float], ...]] = (
        # speeds keep each replay around five seconds
        ("spot-btcusdt", 100.0),
        ("spot-multi-2021", 20.0),
        ("spot-10sym-2021", 20.0),
        ("spot-4sym-2021", 10.0),
    )

    @classmethod
    def reference_client(cls, ws_url: str, streams: list[str]) -> BinanceReferenceClient:
        """A combined-stream client with every stream in the URL, keeping books by Binance's procedure."""
        return BinanceReferenceClient(f"{ws_url}/stream?streams={'/'.join(streams)}")

    def build_source(self) -> ReplaySource:
        """The Binance tape over the configured recordings."""
        cfg = self.config
        return binance_source(
            cfg.recordings, fanout=cfg.fanout, amplify=cfg.amplify, loop=cfg.loop, symbols=cfg.symbols
        )

    def build_model(self) -> BinanceSpotModel:
        """True books from the recorded snapshots, trade stores for REST backfill, weights, exchangeInfo."""
        cfg, symbols = self.config, self.source.symbols
        self.market = MarketState(
            symbols=symbols,
            books={s: self._initial_book(s) for s in symbols},
            trades={s: TradeStore() for s in symbols},
            weights=WeightLimiter(limit=cfg.rest_weight_per_minute, ban_scale=cfg.ban_scale),
            faults=RestFaults(),
            server_time_ms=lambda: time.time_ns() // 1_000_000,
            on_request=self._on_rest_request,
            exchange_info_template=_exchange_info_for(symbols),
        )
        return BinanceSpotModel(
            self.market,
            rebase_times=cfg.rebase_times,
            restart_snapshot=self.source.initial_snapshot,
            on_crossed=self._on_book_crossed,
        )

    def _on_book_crossed(self, book: TrueBook) -> None:
        bid, ask = book.best()
        self.history.record_event(
            time.monotonic_ns(), "book_crossed", symbol=book.symbol, id=book.last_update_id, bid=bid, ask=ask
        )

    def books_crossed(self) -> dict[str, int]:
        """Per symbol, how many updates left its true book crossed (the invariant says: none)."""
        return {s: b.crossings for s, b in self.market.books.items() if b.crossings}

    def _initial_book(self, symbol: str) -> TrueBook:
        book = TrueBook(symbol)
        snap = self.source.initial_snapshot(symbol)
        if snap is not None:
            book.load_snapshot(snap["lastUpdateId"], snap["bids"], snap["asks"])
        return book

    def check_handshake(self, path: str) -> None:
        """Binance's paths; too many streams in the URL is refused too."""
        endpoint = parse_endpoint(path)
        limit = self.config.max_streams_per_connection
        if len(endpoint.streams) > limit:
            raise HandshakeError(
                HTTPStatus.BAD_REQUEST, 2, f"Invalid request: too many streams (max {limit})"
            )

    def attempts_refused_body(self) -> bytes:
        """Binance's -1003 body."""
        return orjson.dumps({"code": -1003, "msg": "Too many connection attempts"})

    def new_session(self, conn: ServerConnection, session_id: int) -> SessionBase:
        """A Binance session subscribed to the streams named in the path."""
        assert conn.request is not None
        endpoint = parse_endpoint(conn.request.path)
        session = Session(self, conn, session_id, endpoint.combined)
        for name in endpoint.streams:
            session.subscribe(name)
        return session

    def connect_detail(self, conn: ServerConnection) -> dict[str, Any]:
        """Names in the URL that are not streams (accepted, never delivered)."""
        assert conn.request is not None
        return {"ignored": list(parse_endpoint(conn.request.path).ignored)}

    def session_state(self, session: SessionBase) -> dict[str, Any]:
        """Whether the connection gets combined-stream wrappers."""
        return {"combined": getattr(session, "combined", False)}

    def rest_app(self) -> web.Application:
        """``/api/v3/...`` served from the market state."""
        return build_rest_app(self.market)

    def rest_error_body(self, status: int, message: str) -> bytes:
        """Binance's ``{"code","msg"}`` shape, code -1000 (UNKNOWN): what Binance answers to a request line
        or header over its limits is not documented; the message is the HTTP parser's."""
        return orjson.dumps({"code": -1000, "msg": message})

    def apply_rest_fault(self, faults: RestFaults) -> None:
        """The REST app reads the fault from the market state."""
        self.market.faults = faults

    def replay_stream_for(self, client_stream: str) -> str | None:
        """The replay stream feeding a client stream (``@depth`` is fed by another recorded cadence)."""
        streams = self.source.streams
        if client_stream in streams:
            return client_stream
        parsed = stream_names.parse_stream(client_stream)
        if parsed is None:
            return None
        if parsed.kind == "depth":
            symbol = client_stream.split("@", 1)[0]
            for suffix in DEPTH_FALLBACKS:
                if symbol + suffix in streams:
                    return symbol + suffix
        return None

    def latest_value(self, client_stream: str) -> bool:
        """bookTicker (best bid/ask now) and klines (the candle so far) supersede their predecessors."""
        parsed = stream_names.parse_stream(client_stream)
        return parsed is not None and parsed.kind in ("bookTicker", "kline")

    def insert_gap(self, symbol: str, skip: int = 1) -> None:
        """Make ``symbol``'s depth update ids jump by ``skip`` (a sequence gap a feed must detect)."""
        assert isinstance(self.model, BinanceSpotModel)
        self.model.insert_gap(symbol, skip)
        self.history.record_event(time.monotonic_ns(), "gap", symbol=symbol.upper(), skip=skip)

    def true_book(self, symbol: str, limit: int = 5000) -> dict[str, Any]:
        """The venue's true order book of ``symbol`` right now (``{"id", "bids", "asks"}``)."""
        book = self.market.books.get(symbol.upper())
        if book is None:
            raise KeyError(symbol)
        snap = book.snapshot(limit)
        return {"id": snap["lastUpdateId"], "bids": snap["bids"], "asks": snap["asks"]}

    def _on_rest_request(self, record: RestRequestRecord) -> None:
        self.history.record_event(
            record.time_ns,
            "rest",
            method=record.method,
            path=record.path,
            status=record.status,
            weight=record.weight,
            ip=record.ip,
        )


def _exchange_info_for(symbols: list[str]) -> dict[str, Any]:
    """The recorded exchangeInfo document cut down to the venue's symbols (others are synthesized)."""
    wanted = set(symbols)
    doc = recorded_exchange_info()
    return {**doc, "symbols": [e for e in doc.get("symbols", []) if e.get("symbol") in wanted]}
