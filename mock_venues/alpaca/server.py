"""The mock Alpaca market-data venue: stock/crypto/option/news streams, historical REST, Alpaca's faults.

``async with AlpacaVenue(VenueConfig(recordings=bundled("alpaca"))) as venue:`` serves every stream
endpoint on ``venue.ws_url`` (``/v2/iex``, ``/v2/sip``, ``/v2/test``, ``/v1beta3/crypto/us``,
``/v1beta1/indicative``, ``/v1beta1/opra``, ``/v1beta1/news``), the historical REST on ``venue.rest_url``
and the control API. Details and the known differences from Alpaca: docs/venue-alpaca.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, ClassVar

import msgpack
import orjson
from aiohttp import web
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from mock_venues.alpaca.codec import Encoding, decode_request, encode, encoding_for, error
from mock_venues.alpaca.model import AlpacaModel
from mock_venues.alpaca.protocol import (
    AUTO_CHANNELS,
    CHANNELS,
    MESSAGE_CHANNELS,
    NEWS_STREAM,
    OCC_SYMBOL,
    AlpacaProtocol,
    Endpoint,
    Market,
    Output,
    client_stream,
    parse_path,
)
from mock_venues.alpaca.rest import RestState, build_rest_app
from mock_venues.alpaca.tape import MINUTE_NS, AlpacaTape, trade_key
from mock_venues.base.reference import ReferenceClient
from mock_venues.base.rest_faults import RestFaults
from mock_venues.base.session import SessionBase
from mock_venues.base.venue import HandshakeError, VenueBase, VenueConfig
from mock_venues.replay.source import ReplaySource, clone_symbol

VENUE_NAME = "alpaca"
AUTH_TIMEOUT_S = 10.0
CLOSE_SLOW_CLIENT = 1008
CORRECTED_ID_OFFSET = 10**9  # a correction's new id: the original's plus this (clear of the deriver's ids)
STATUS_MESSAGES = {
    "H": "Trading Halt",
    "Q": "Quotation Resumption",
    "T": "Trading Resumption",
    "P": "Volatility Trading Pause",
}
REASON_MESSAGES = {
    "T12": "Trading Halted; For information requested by NASDAQ",
    "T1": "Halt News Pending",
    "LUDP": "Volatility Trading Pause",
    "": "",
}

__all__ = ["AlpacaSession", "AlpacaVenue", "VenueConfig"]


def _frame_header(length: int, binary: bool) -> bytes:
    """RFC 6455 header of one unfragmented, unmasked text or binary frame."""
    first = 0x82 if binary else 0x81
    if length < 126:
        return bytes((first, length))
    if length < 65536:
        return bytes((first, 0x7E)) + length.to_bytes(2, "big")
    return bytes((first, 0x7F)) + length.to_bytes(8, "big")


class AlpacaSession(SessionBase):
    """One client connection: the pure :class:`AlpacaProtocol` plus its I/O."""

    def __init__(
        self, venue: AlpacaVenue, conn: ServerConnection, session_id: int, endpoint: Endpoint
    ) -> None:
        super().__init__(venue, conn, session_id)
        self.alpaca = venue
        assert conn.request is not None
        headers = conn.request.headers
        self.encoding = encoding_for(headers.get("Content-Type"))
        key, secret = headers.get("APCA-API-KEY-ID"), headers.get("APCA-API-SECRET-KEY")
        self.endpoint = endpoint
        self.proto = AlpacaProtocol(
            endpoint,
            self.encoding,
            lambda k, s: venue.authorize(self, k, s),
            symbol_limit=venue.symbol_limit(endpoint),
            header_credentials=(key, secret) if key and secret else None,
        )
        self._binary = self.encoding is Encoding.MSGPACK

    # -- send side ---------------------------------------------------------------------------------------

    def queue(self, frame: bytes) -> bool:
        """Queue one data frame in the session's encoding; False for a news item outside the session's
        news symbols (not sent, not recorded)."""
        model = self.alpaca.market
        msg = model.message_of(frame)
        if msg is not None and msg.get("T") == "n":
            wanted = self.proto.news_symbols()
            if "*" not in wanted and not wanted.intersection(msg.get("symbols", [])):
                return False
        if not self._binary:
            frame = model.json_frame(frame)
        self._pending.append(_frame_header(len(frame), self._binary))
        self._pending.append(frame)
        return True

    def queue_raw(self, frame: bytes) -> None:
        """Write one frame already in the session's encoding now (bypassing the news filter)."""
        self._pending.append(_frame_header(len(frame), self._binary))
        self._pending.append(frame)
        self.flush()

    async def send_now(self, frame: bytes) -> None:
        """Send a control frame right away (through websockets: compressed if negotiated)."""
        await self.conn.send(frame, text=not self._binary)

    async def send_messages(self, messages: list[dict[str, Any]]) -> None:
        """Each message alone in its own frame (Alpaca sends control messages alone)."""
        for msg in messages:
            await self.send_now(encode([msg], self.encoding))

    # -- receive side ------------------------------------------------------------------------------------

    async def serve(self) -> None:
        """Greeting, auth deadline, then the client's messages until the connection ends."""
        venue = self.alpaca
        loop = asyncio.get_running_loop()
        lifetime = loop.call_later(venue.config.max_connection_age_s, self._age_out)
        deadline = loop.call_later(venue.auth_timeout_s, lambda: venue.spawn(self._auth_timeout()))
        try:
            if await self._apply(self.proto.on_connect()):
                return
            async for message in self.conn:
                try:
                    out = self.proto.on_request(decode_request(message))
                except Exception as exc:  # a bug of the mock: Alpaca's 500, the session goes on
                    venue.history.record_event(
                        time.monotonic_ns(), "internal_error", connection=self.id, error=repr(exc)
                    )
                    out = Output([error(500)])
                if await self._apply(out):
                    return
        except ConnectionClosed:
            pass
        finally:
            lifetime.cancel()
            deadline.cancel()
            venue.publisher.remove_session(self)
            venue.release(self)

    async def _auth_timeout(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            out = self.proto.on_auth_timeout()
            if out.close:
                self.alpaca.history.record_event(time.monotonic_ns(), "auth_timeout", connection=self.id)
            await self._apply(out)

    async def _apply(self, out: Output) -> bool:
        """Send the replies, update the routes, close if told to; True when the session is over."""
        venue = self.alpaca
        for reply in out.replies:
            if reply.get("T") == "error":
                venue.history.record_event(
                    time.monotonic_ns(), "alpaca_error", connection=self.id, code=reply["code"]
                )
        if out.authenticated:
            venue.history.record_event(
                time.monotonic_ns(), "authenticated", connection=self.id, key=self.proto.key
            )
        await self.send_messages(out.replies)
        if out.streams_changed:
            await self._update_streams()
        if out.close:
            venue.publisher.remove_session(self)
            await self.conn.close(
                1008 if out.replies and out.replies[0].get("code") != 404 else 1000,
                str(out.replies[0].get("msg", "")) if out.replies else "",
            )
            return True
        return False

    async def _update_streams(self) -> None:
        venue = self.alpaca
        wanted = self.proto.streams(lambda channel: venue.symbols_of(self.endpoint.market, channel))
        current = set(self.subscriptions)
        for name in sorted(current - wanted):
            self.unsubscribe(name)
        added = sorted(wanted - current)
        for name in added:
            self.subscribe(name)
        for name in added:
            if name.startswith("orderbooks."):
                symbol = name.split(".", 1)[1]
                # The first book message after subscribing carries the whole book with "r": true.
                book = venue.market.book(symbol)
                now = venue.market.wall_ns(time.monotonic_ns())
                await self.send_now(encode([book.message(symbol, book.t or now)], self.encoding))
                venue.history.record_event(
                    time.monotonic_ns(), "orderbook_reset", connection=self.id, symbol=symbol
                )

    def handle_control(self, message: str | bytes) -> bytes | None:
        """Unused: :meth:`serve` drives the protocol (replies may be several frames, or a close)."""
        raise NotImplementedError


def reference_ids(frame: bytes) -> list[tuple[str, int | None]]:
    """(client stream, history key) of every message of one frame, JSON or msgpack (docs/venue-alpaca.md):
    trades and cancels ``trade_key(x, i)`` (crypto: ``i``), corrections ``trade_key(x, ci)``, news ``id``;
    None for the messages keyed by the venue's counters (quotes, bars, statuses, LULDs, books)."""
    try:
        messages = orjson.loads(frame)
    except orjson.JSONDecodeError:
        try:
            messages = msgpack.unpackb(frame, timestamp=3)
        except (ValueError, msgpack.UnpackException):
            return []
    out: list[tuple[str, int | None]] = []
    for m in messages if isinstance(messages, list) else []:
        channel = MESSAGE_CHANNELS.get(m.get("T", "")) if isinstance(m, dict) else None
        if channel is None:
            continue  # control messages: success, subscription, error
        if channel == "news":
            out.append((NEWS_STREAM, m.get("id")))
            continue
        if channel == "orderbooks" and m.get("r") is True:
            continue  # the whole book a session gets on subscribing: its own, not a published message
        stream = client_stream(channel, m.get("S", ""))
        ident = m.get("ci") if channel == "corrections" else m.get("i")
        if channel not in ("trades", "corrections", "cancelErrors") or not isinstance(ident, int):
            out.append((stream, None))
        elif isinstance(m.get("x"), str):
            out.append((stream, trade_key(m["x"], ident)))
        else:
            out.append((stream, ident))
    return out


def _reference_endpoint(stream: str) -> str:
    """The endpoint path a bare client reads ``stream`` on (options: OCC symbols; crypto: ``BASE/QUOTE``)."""
    symbol = stream.partition(".")[2]
    if stream == NEWS_STREAM:
        return "/v1beta1/news"
    if "/" in symbol:
        return "/v1beta3/crypto/us"
    if OCC_SYMBOL.fullmatch(symbol):
        return "/v1beta1/opra"
    return "/v2/sip"


class AlpacaVenue(VenueBase):
    """A running mock Alpaca market-data venue (async context manager)."""

    name: ClassVar[str] = VENUE_NAME
    description: ClassVar[str] = "mock Alpaca market data: stock/crypto/option/news streams, historical REST"
    default_recording: ClassVar[str] = "alpaca"
    recording_formats: ClassVar[frozenset[str]] = frozenset({"alpaca", "binance"})
    ws_compression: ClassVar[str | None] = "deflate"
    ids_increase: ClassVar[bool] = False  # stock trade keys are unique per exchange, not ordered per stream
    check_sets: ClassVar[tuple[tuple[str, float], ...]] = (("alpaca", 50.0),)  # ~13 s
    venue_fault_kinds: ClassVar[tuple[str, ...]] = (
        "connection_limit",
        "slow_client",
        "auth_failure",
        "insufficient_subscription",
        "corrections",
        "halt",
        "luld",
    )

    def __init__(self, config: VenueConfig) -> None:
        super().__init__(config)
        extra = config.extra
        self.auth_timeout_s = float(extra.get("auth_timeout_s", AUTH_TIMEOUT_S))
        self.connection_limit = int(extra.get("connection_limit", 1))
        self.keys: dict[str, str] | None = extra.get("keys")  # None: any non-empty key/secret
        self.stock_symbol_limit: int | None = extra.get("symbol_limit", 30)
        self.publisher.slow_client_limit = int(extra.get("slow_client_bytes", 16 * 2**20))
        self.accounts: dict[tuple[str, str], set[int]] = {}  # (key, endpoint path) -> session ids
        self.refuse: dict[int, int] = {}  # error code -> auths still to refuse with it (faults)
        self.rest_state = RestState(
            self.market,
            self.key_ok,
            int(extra.get("rest_rate_per_minute", 200)),
            on_request=self._on_rest,
            page_max=int(extra.get("rest_page_max", 10_000)),
            market_of=self._market_name,
        )

    # -- venue parts --------------------------------------------------------------------------------------

    @classmethod
    def reference_client(cls, ws_url: str, streams: list[str]) -> ReferenceClient:
        """A bare client of the endpoint of ``streams`` (the first stream's; JSON, options msgpack as
        Alpaca serves them only so) recording the history keys of trades, corrections, cancels and news and
        counting the other messages (their keys are the venue's counters; docs/venue-alpaca.md)."""
        path = _reference_endpoint(streams[0]) if streams else "/v2/sip"
        channels: dict[str, list[str]] = {}
        for name in streams:
            channel, _, symbol = name.partition(".")
            if channel not in AUTO_CHANNELS:  # corrections and cancels follow trades
                channels.setdefault(channel, []).append(symbol or "*")
        frames: list[str | bytes] = [
            orjson.dumps({"action": "auth", "key": "reference", "secret": "reference"}).decode(),
            orjson.dumps({"action": "subscribe", **channels}).decode(),
        ]
        headers = {"Content-Type": "application/msgpack"} if path == "/v1beta1/opra" else {}
        return ReferenceClient(f"{ws_url}{path}", reference_ids, frames, headers)

    @classmethod
    def reference_clients(cls, ws_url: str, streams: list[str]) -> list[ReferenceClient]:
        """One bare client per endpoint the streams live on (stocks, crypto, options, news)."""
        by_endpoint: dict[str, list[str]] = {}
        for name in streams:
            by_endpoint.setdefault(_reference_endpoint(name), []).append(name)
        return [cls.reference_client(ws_url, names) for names in by_endpoint.values()]

    @staticmethod
    def history_key(stream: str, event_id: int | None, data: Any) -> int | None:
        """The history key of a delivered event (docs/venue-alpaca.md, "Stream names and ids"): stock trades
        and cancels ``trade_key(x, i)``, corrections ``trade_key(x, ci)`` (the event's id is the original
        trade's), crypto trades and news their id; quotes, bars, statuses, LULDs and books are keyed by
        the venue's counters, which no event carries (None)."""
        channel = stream.partition(".")[0]
        fields = data if isinstance(data, dict) else {}
        if event_id is None:
            return None
        if channel == "corrections":
            ci, x = fields.get("ci"), fields.get("x")
            return trade_key(x, ci) if isinstance(x, str) and isinstance(ci, int) else None
        if channel in ("trades", "cancelErrors") and isinstance(fields.get("x"), str):
            return trade_key(fields["x"], event_id)
        return event_id if channel in ("trades", "news") else None

    def build_source(self) -> ReplaySource:
        """The Alpaca tape over the configured recordings."""
        cfg = self.config
        self.tape = AlpacaTape()
        source = ReplaySource(
            cfg.recordings,
            self.tape,
            fanout=cfg.fanout,
            amplify=cfg.amplify,
            loop=cfg.loop,
            symbols=cfg.symbols,
        )
        # Fan-out clones' streams under Alpaca's names (the source names them the Binance way).
        source.streams = sorted(
            f"{stream.partition('.')[0]}.{clone_symbol(symbol, i)}" if i else stream
            for i in range(cfg.fanout)
            for stream, symbol in self.tape.streams.items()
            if i == 0 or symbol
        )
        return source

    def build_model(self) -> AlpacaModel:
        """Published trades/quotes/bars for REST, crypto books from the first recorded snapshot."""
        self.market = AlpacaModel(
            rebase_times=self.config.rebase_times, initial_snapshot=self.source.initial_snapshot
        )
        return self.market

    def check_handshake(self, path: str) -> None:
        """Alpaca's stream paths only (404 otherwise)."""
        if parse_path(path) is None:
            raise HandshakeError(
                f"unknown path {path!r}", HTTPStatus.NOT_FOUND, orjson.dumps({"message": "not found"})
            )

    def new_session(self, conn: ServerConnection, session_id: int) -> SessionBase:
        """An Alpaca session on the path's endpoint."""
        assert conn.request is not None
        endpoint = parse_path(conn.request.path)
        assert endpoint is not None
        return AlpacaSession(self, conn, session_id, endpoint)

    def connect_detail(self, conn: ServerConnection) -> dict[str, Any]:
        """The endpoint and the negotiated encoding."""
        assert conn.request is not None
        return {"encoding": encoding_for(conn.request.headers.get("Content-Type")).value}

    def session_state(self, session: SessionBase) -> dict[str, Any]:
        """Endpoint, encoding, authentication."""
        if not isinstance(session, AlpacaSession):
            return {}
        return {
            "endpoint": session.endpoint.path,
            "encoding": session.encoding.value,
            "authenticated": session.proto.authenticated,
        }

    def replay_stream_for(self, client_stream_name: str) -> str | None:
        """Every ``<channel>.<symbol>`` of a known symbol is routed under its own name (fault messages such
        as corrections and statuses are published on streams the recording does not carry)."""
        if client_stream_name == NEWS_STREAM:
            return NEWS_STREAM
        channel, _, symbol = client_stream_name.partition(".")
        if self.market_of(symbol) is not None and any(channel in c for c in CHANNELS.values()):
            return client_stream_name
        return None

    def latest_value(self, client_stream_name: str) -> bool:
        """Quotes and bars supersede their predecessors; trades, corrections, cancels, books, news count."""
        channel = client_stream_name.partition(".")[0]
        return channel in ("quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds")

    def true_book(self, symbol: str, limit: int = 5000) -> dict[str, Any]:
        """The true order book of a crypto pair now (``{"id": None, "bids", "asks"}``, best first, sizes
        as the wire carries them; Alpaca books have no ids); KeyError for a symbol without a book."""
        book = self.market.books.get(symbol)
        if book is None or self.market_of(symbol) is not Market.CRYPTO:
            raise KeyError(symbol)
        whole = book.message(symbol, book.t)
        return {
            "id": None,
            "bids": [[repr(level["p"]), repr(level["s"])] for level in whole["b"][:limit]],
            "asks": [[repr(level["p"]), repr(level["s"])] for level in whole["a"][:limit]],
        }

    def market_of(self, symbol: str) -> Market | None:
        """The market of a symbol of the replay (fan-out clones: their recorded symbol's)."""
        if symbol not in self.source.symbols:
            return None
        return self.tape.markets.get(self.source.split_clone(symbol)[0])

    def _market_name(self, symbol: str) -> str | None:
        market = self.market_of(symbol)
        return market.value if market is not None else None

    def symbols_of(self, market: Market, channel: str) -> list[str]:
        """The symbols a ``*`` subscription of ``channel`` on ``market`` covers."""
        return sorted(s for s in self.source.symbols if self.market_of(s) is market)

    def symbol_limit(self, endpoint: Endpoint) -> int | None:
        """The plan's trades+quotes symbol limit (stocks; None elsewhere)."""
        return self.stock_symbol_limit if endpoint.market is Market.STOCKS else None

    # -- accounts ------------------------------------------------------------------------------------------

    def key_ok(self, key: str, secret: str) -> bool:
        """Whether a key/secret pair is valid (any non-empty pair unless ``extra["keys"]`` lists them)."""
        if not key or not secret:
            return False
        return self.keys is None or self.keys.get(key) == secret

    def authorize(self, session: AlpacaSession, key: str, secret: str) -> int | None:
        """None (accepted, the account's slot taken) or the error code refusing the auth."""
        for code in (402, 409, 406):
            left = self.refuse.get(code, 0)
            if left > 0:
                self.refuse[code] = left - 1
                return code
        if not self.key_ok(key, secret):
            return 402
        holders = self.accounts.setdefault((key, session.endpoint.path), set())
        holders &= set(self.sessions)  # drop closed ones
        if len(holders) >= self.connection_limit:
            return 406
        holders.add(session.id)
        return None

    def release(self, session: AlpacaSession) -> None:
        """A session ended: its account slot is free."""
        for holders in self.accounts.values():
            holders.discard(session.id)

    # -- slow clients --------------------------------------------------------------------------------------

    def _close_slow_client(self, session: SessionBase) -> None:
        self.history.record_event(time.monotonic_ns(), "slow_client_closed", connection=session.id)
        self.spawn(self._slow_close(session))

    async def _slow_close(self, session: SessionBase) -> None:
        """407 slow client (best effort: the buffer is full), then close."""
        self.publisher.remove_session(session)
        if isinstance(session, AlpacaSession):
            with contextlib.suppress(Exception):
                session.queue_raw(encode([error(407)], session.encoding))
        await self.close_session(session, CLOSE_SLOW_CLIENT, "slow client")

    # -- REST ------------------------------------------------------------------------------------------------

    def rest_app(self) -> web.Application:
        """The historical REST for recovery."""
        return build_rest_app(self.rest_state)

    def rest_error_body(self, status: int, message: str) -> bytes:
        """Alpaca's ``{"message": ...}``."""
        return orjson.dumps({"message": message})

    def apply_rest_fault(self, faults: RestFaults) -> None:
        """The REST app reads the fault from its state."""
        self.rest_state.faults = faults

    def _on_rest(self, path: str, status: int) -> None:
        self.history.record_event(time.monotonic_ns(), "rest", path=path, status=status)

    # -- Alpaca's faults ----------------------------------------------------------------------------------

    async def venue_fault(self, kind: str, **params: Any) -> dict[str, Any]:
        """Alpaca's faults (docs/venue-alpaca.md): ``connection_limit`` / ``auth_failure`` /
        ``insufficient_subscription`` {count}, ``slow_client`` {connection}, ``corrections`` {symbol,
        count, cancels}, ``halt`` {symbol, code, reason, duration_s}, ``luld`` {symbol, up, down}."""
        handlers: dict[str, Callable[[], Any]] = {
            "connection_limit": lambda: self._refuse(406, **params),
            "auth_failure": lambda: self._refuse(402, **params),
            "insufficient_subscription": lambda: self._refuse(409, **params),
            "slow_client": lambda: self._slow_fault(**params),
            "corrections": lambda: self._corrections(**params),
            "halt": lambda: self._halt(**params),
            "luld": lambda: self._luld(**params),
        }
        if kind not in handlers:
            raise ValueError(f"unknown venue fault {kind!r}; known: {', '.join(self.venue_fault_kinds)}")
        try:
            outcome: Any = handlers[kind]()
            result: dict[str, Any] = await outcome if asyncio.iscoroutine(outcome) else outcome
        except TypeError as exc:
            raise ValueError(f"bad parameters for {kind}: {exc}") from None
        self.history.record_event(time.monotonic_ns(), "venue_fault", kind=kind, **result)
        return {"kind": kind, **result}

    def _refuse(self, code: int, count: int = 1) -> dict[str, Any]:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be a positive integer")
        self.refuse[code] = self.refuse.get(code, 0) + count
        return {"code": code, "count": count}

    async def _slow_fault(self, connection: int | None = None) -> dict[str, Any]:
        targets = [s for s in self.sessions.values() if connection is None or s.id == connection]
        if connection is not None and not targets:
            raise ValueError(f"no connection {connection}")
        for session in targets:
            self.history.record_event(time.monotonic_ns(), "slow_client_closed", connection=session.id)
            await self._slow_close(session)
        return {"connections": [s.id for s in targets]}

    def _symbol(self, symbol: Any, market: Market = Market.STOCKS) -> str:
        if not isinstance(symbol, str) or self.market_of(symbol) is not market:
            raise ValueError(f"symbol must be one of the venue's {market.value} symbols, got {symbol!r}")
        return symbol

    def _publish(self, stream: str, venue_id: int, msg: dict[str, Any]) -> int:
        return self.publisher.publish_extra(stream, venue_id, self.market.encode(msg, time.monotonic_ns()))

    def _corrections(self, symbol: str = "", count: int = 3, cancels: int = 1) -> dict[str, Any]:
        symbol = self._symbol(symbol)
        series = self.market.trades.get(symbol)
        published = series.items if series is not None else []
        bars = self.market.bars.get(symbol)
        if bars is not None and bars.items:
            # Trades of the last minute whose bar is out, so the correction also updates a bar ("u").
            minute = bars.items[-1]["t"]
            in_bar = [m for m in published if minute <= m["t"] < minute + MINUTE_NS]
            if len(in_bar) >= count + cancels:
                published = in_bar
        if len(published) < count + cancels:
            raise ValueError(f"{symbol}: only {len(published)} trades published so far")
        now = self.market.wall_ns(time.monotonic_ns())
        corrected, cancelled = [], []
        targets = published[-(count + cancels) :]
        for trade in targets[cancels:]:
            cp = round(trade["p"] + 0.01, 4)
            ci = trade["i"] + CORRECTED_ID_OFFSET
            msg = {
                "T": "c",
                "S": symbol,
                "x": trade["x"],
                "oi": trade["i"],
                "op": trade["p"],
                "os": trade["s"],
                "oc": trade["c"],
                "ci": ci,
                "cp": cp,
                "cs": trade["s"],
                "cc": trade["c"],
                "t": now,
                "z": trade["z"],
            }
            self._publish(client_stream("corrections", symbol), trade_key(trade["x"], ci), msg)
            corrected.append(trade["i"])
            self._updated_bar(symbol, trade["t"], cp)
        for trade in targets[:cancels]:
            msg = {
                "T": "x",
                "S": symbol,
                "i": trade["i"],
                "x": trade["x"],
                "p": trade["p"],
                "s": trade["s"],
                "a": "C",
                "t": now,
                "z": trade["z"],
            }
            self._publish(client_stream("cancelErrors", symbol), trade_key(trade["x"], trade["i"]), msg)
            cancelled.append(trade["i"])
        return {"symbol": symbol, "corrected": corrected, "cancelled": cancelled}

    def _updated_bar(self, symbol: str, trade_t: int, price: float) -> None:
        """The minute bar of a corrected trade, re-sent as ``u`` (if that minute's bar was published)."""
        bars = self.market.bars.get(symbol)
        minute = trade_t - trade_t % MINUTE_NS
        if bars is None:
            return
        for bar in reversed(bars.items):
            if bar["t"] == minute:
                updated = {**bar, "T": "u", "h": max(bar["h"], price), "l": min(bar["l"], price)}
                self._publish(client_stream("updatedBars", symbol), minute // 10**6, updated)
                return

    async def _halt(
        self, symbol: str = "", code: str = "H", reason: str = "T12", duration_s: float | None = None
    ) -> dict[str, Any]:
        symbol = self._symbol(symbol)
        if code not in STATUS_MESSAGES:
            raise ValueError(f"code must be one of {sorted(STATUS_MESSAGES)}")
        self._status(symbol, code, reason)
        if duration_s is not None:
            # No trades or quotes while halted: the replay's are dropped (recorded as such), then a resume.
            for channel in ("trades", "quotes"):
                self.add_fault("silence", stream=client_stream(channel, symbol), duration_s=duration_s)
            self.spawn(self._resume_after(symbol, float(duration_s)))
        return {"symbol": symbol, "code": code, "reason": reason, "duration_s": duration_s}

    async def _resume_after(self, symbol: str, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        self._status(symbol, "T", "")
        self.history.record_event(time.monotonic_ns(), "venue_fault", kind="resume", symbol=symbol)

    def _status(self, symbol: str, code: str, reason: str) -> None:
        now = self.market.wall_ns(time.monotonic_ns())
        msg = {
            "T": "s",
            "S": symbol,
            "sc": code,
            "sm": STATUS_MESSAGES[code],
            "rc": reason,
            "rm": REASON_MESSAGES.get(reason, reason),
            "t": now,
            "z": "A",
        }
        self._publish(client_stream("statuses", symbol), now // 10**6, msg)

    def _luld(
        self, symbol: str = "", up: float | None = None, down: float | None = None, indicator: str = "B"
    ) -> dict[str, Any]:
        symbol = self._symbol(symbol)
        last = self.market.last_trades.get(symbol)
        ref = last["p"] if last is not None else None
        if up is None or down is None:
            if ref is None:
                raise ValueError(f"{symbol}: no trade yet; give up and down")
            up, down = round(ref * 1.05, 2), round(ref * 0.95, 2)
        now = self.market.wall_ns(time.monotonic_ns())
        msg = {"T": "l", "S": symbol, "u": up, "d": down, "i": indicator, "t": now, "z": "A"}
        self._publish(client_stream("lulds", symbol), now // 10**6, msg)
        return {"symbol": symbol, "up": up, "down": down, "indicator": indicator}
