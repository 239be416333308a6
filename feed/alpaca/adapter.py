"""The Alpaca market data adapter: stocks, crypto, options and news behind the venue-neutral feed.

Streams ``<channel>.<SYMBOL>`` (:mod:`feed.alpaca.streams`), one WebSocket per endpoint (stocks
``/v2/iex``, crypto ``/v1beta3/crypto/us``, options ``/v1beta1/indicative``, news ``/v1beta1/news``
under ``ws_url``) and never a second one: Alpaca allows one session per account and endpoint (406 for
the next), so ``limits.max_connections`` is 1 and connections are never rotated make-before-break. Each
connection logs in first (:class:`feed.adapter.Login`: ``connected`` greeting, ``auth`` with the key and
secret, ``authenticated``), then subscribes with one ``{"action":"subscribe", "<channel>": [symbols]}``
message answered by the complete subscription set (no request id). Frames are msgpack by default
(``Content-Type: application/msgpack``), JSON with ``encoding = "json"``; options speak msgpack only.

Continuity: none by id. Every stream is :attr:`~feed.adapter.Continuity.TIME`: stock and crypto trades
are fetched again by time window over REST after a reconnect (:class:`feed.alpaca.rest_client.AlpacaRest`)
and de-duplicated by (exchange, id); every other stream's outage window is reported as a gap with its
time range; the crypto book is rebuilt by the venue's reset flag ``r`` or a REST snapshot. See
docs/feed-alpaca.md.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import msgpack
import orjson
from pydantic import SecretStr

from feed.adapter import Defaults, Login, StreamSpec, VenueLimits
from feed.alpaca.book import AlpacaBook
from feed.alpaca.codec import AlpacaCodec
from feed.alpaca.rest_client import AlpacaRest
from feed.alpaca.streams import (
    CHANNELS,
    CONFIGURABLE,
    DEFAULT_PATHS,
    IMPLICIT,
    NEWS_STREAM,
    OPTIONS,
    STOCKS,
    endpoint_of,
    endpoint_of_symbol,
    stream_spec,
)
from feed.config import VenueSettings
from feed.limits import WeightBudget

KEY_ENV, SECRET_ENV = "APCA_API_KEY_ID", "APCA_API_SECRET_KEY"
FATAL_LOGIN_CODES = frozenset({408, 409, 411, 412})
"""Login refusals that no retry can cure: 408 v2 not enabled, 409 insufficient subscription (the feed is
not in the account's plan), 411 insufficient scope, 412 options need msgpack. Others (402 auth failed,
406 connection limit exceeded, 500, ...) are retried with the feed's backoff."""
DEFAULT_SYMBOL_LIMIT = 30  # the sheet: IEX (free plan) trades and quotes, 30 symbols


class AlpacaAdapter:
    """Alpaca market data behind :class:`feed.adapter.VenueAdapter`."""

    name: ClassVar[str] = "alpaca"
    limits: ClassVar[VenueLimits] = VenueLimits(
        max_streams_per_connection=100_000,  # no documented stream limit; the plan's symbol limit binds
        default_streams_per_connection=100_000,  # every stream of an endpoint on its one connection
        control_messages_per_second=10.0,  # not documented: the feed keeps well below
        default_control_messages_per_second=2.0,
        connection_attempts=60,  # not documented: one connection per endpoint needs few attempts
        default_connection_attempts=30,
        attempt_window_s=300.0,
        max_connection_age_s=None,  # Alpaca does not cut connections by age
        rest_weight_per_minute=10_000,  # historical API requests per minute (Algo Trader Plus)
        default_rest_weight_per_minute=200,  # the free plan's 200 requests per minute
        ping_interval_s=10.0,  # what Alpaca's SDKs do
        max_connections=1,  # one session per account and endpoint: a second gets 406
    )
    defaults: ClassVar[Defaults] = Defaults(
        ws_url="wss://stream.data.alpaca.markets",
        rest_url="https://data.alpaca.markets",
        symbols=("AAPL",),
        streams=("trades", "quotes"),
        extra={"encoding": "msgpack", "symbol_limit": DEFAULT_SYMBOL_LIMIT, "snapshot_limit": 1},
    )

    def validate(self, settings: VenueSettings) -> list[str]:
        """Symbols (upper-cased; stock, ``BASE/QUOTE`` crypto pair or OCC option), stream kinds that
        apply to them, the symbol limit per endpoint, msgpack for options, and credentials (settings or
        ``APCA_API_KEY_ID``/``APCA_API_SECRET_KEY``)."""
        problems = []
        settings.symbols = list(dict.fromkeys(s.upper() for s in settings.symbols))
        settings.streams = list(dict.fromkeys(settings.streams))
        if settings.api_key is None and os.environ.get(KEY_ENV):
            settings.api_key = SecretStr(os.environ[KEY_ENV])
        if settings.api_secret is None and os.environ.get(SECRET_ENV):
            settings.api_secret = SecretStr(os.environ[SECRET_ENV])
        if settings.api_key is None or settings.api_secret is None:
            problems.append(
                f"api_key: Alpaca needs credentials: api_key and api_secret (or {KEY_ENV} and {SECRET_ENV})"
            )
        bad = [s for s in settings.symbols if endpoint_of_symbol(s) is None]
        if bad:
            problems.append(
                f"symbols: invalid symbol(s) {bad}: stocks like AAPL, crypto pairs like BTC/USD, options "
                "as OCC symbols like AAPL240315C00172500"
            )
        if not settings.streams:
            problems.append("streams: at least one stream is required")
        unknown = [s for s in settings.streams if s not in CONFIGURABLE]
        if unknown:
            problems.append(f"streams: unknown stream(s) {unknown}: use {', '.join(CONFIGURABLE)}")
        specs = self.stream_specs(settings)
        unused = [k for k in settings.streams if k in CONFIGURABLE and not any(s.kind == k for s in specs)]
        if unused and not bad:
            problems.append(f"streams: {unused} apply to none of the symbols {settings.symbols}")
        if not settings.symbols and "news" not in settings.streams:
            problems.append("symbols: at least one symbol is required")
        per_endpoint: dict[str, set[str]] = {}
        for spec in specs:
            if spec.kind != "news":
                per_endpoint.setdefault(endpoint_of(spec), set()).add(spec.symbol)
        limit = settings.symbol_limit
        for endpoint, symbols in sorted(per_endpoint.items()):
            if limit is not None and len(symbols) > limit:
                problems.append(
                    f"symbol_limit: {len(symbols)} {endpoint} symbols exceed the limit of {limit} per "
                    "connection (Alpaca allows one connection per endpoint; raise it if the plan allows)"
                )
        if OPTIONS in per_endpoint and settings.encoding != "msgpack":
            problems.append("encoding: Alpaca's options stream speaks msgpack only (error 412 on JSON)")
        return problems

    def stream_specs(self, settings: VenueSettings) -> list[StreamSpec]:
        """Every symbol x every stream kind that applies to it (``orderbooks`` only for crypto pairs,
        ``statuses`` only for stocks, ...); ``news`` is the one stream ``news.*``; stock ``trades`` bring
        ``corrections`` and ``cancelErrors`` (Alpaca subscribes them with the trades)."""
        specs: list[StreamSpec] = []
        for kind in settings.streams:
            if kind == "news":
                news = stream_spec(NEWS_STREAM)
                if news is not None:
                    specs.append(news)
                continue
            for symbol in settings.symbols:
                spec = stream_spec(f"{kind}.{symbol}")
                if spec is None:
                    continue
                specs.append(spec)
                if kind == "trades" and endpoint_of(spec) == STOCKS:
                    for implicit in IMPLICIT:
                        extra = stream_spec(f"{implicit}.{symbol}")
                        if extra is not None:
                            specs.append(_correcting(extra, spec.name))
        return specs

    def parse_stream(self, name: str) -> StreamSpec | None:
        """The spec of an Alpaca stream name."""
        spec = stream_spec(name)
        if spec is not None and spec.kind in IMPLICIT:
            return _correcting(spec, f"trades.{spec.symbol}")
        return spec

    def codec(self) -> AlpacaCodec:
        """JSON or msgpack array frames to market items."""
        return AlpacaCodec()

    def book(self, spec: StreamSpec) -> AlpacaBook:
        """A crypto pair's book, rebuilt by the reset flag."""
        return AlpacaBook(spec.symbol)

    def connection_url(self, settings: VenueSettings, streams: Sequence[str]) -> str:
        """The endpoint of the streams' asset class under ``ws_url`` (stocks when none is given)."""
        spec = self.parse_stream(streams[0]) if streams else None
        endpoint = endpoint_of(spec) if spec is not None else STOCKS
        return settings.ws_url.rstrip("/") + DEFAULT_PATHS[endpoint]

    def control_frames(self, method: str, streams: Sequence[str], request_id: int) -> list[str | bytes]:
        """One ``subscribe``/``unsubscribe`` message naming every stream by channel (Alpaca's replies
        carry no id). Corrections and cancels come with stock trades and are only named on their own."""
        by_channel: dict[str, list[str]] = {}
        for name in streams:
            kind, _, symbol = name.partition(".")
            if kind in CHANNELS:
                by_channel.setdefault(kind, []).append(symbol)
        traded = set(by_channel.get("trades", []))
        for implicit in IMPLICIT:
            left = [s for s in by_channel.pop(implicit, []) if s not in traded]
            if left:
                by_channel[implicit] = left
        message: dict[str, Any] = {"action": method, **by_channel}
        return [self._encode(message)]

    def login(self, settings: VenueSettings) -> Login | None:
        """Greeting ``connected``, then ``auth`` with the key and secret, answered by ``authenticated``."""
        key = settings.api_key.get_secret_value() if settings.api_key is not None else ""
        secret = settings.api_secret.get_secret_value() if settings.api_secret is not None else ""
        self._binary = settings.encoding == "msgpack"
        auth = self._encode({"action": "auth", "key": key, "secret": secret})
        content = "application/msgpack" if self._binary else "application/json"
        return Login(
            frames=(auth,),
            greeting="connected",
            success="authenticated",
            fatal_codes=FATAL_LOGIN_CODES,
            timeout_s=10.0,
            headers=(("Content-Type", content),),
        )

    _binary = True  # msgpack control frames (set from the settings by login())

    def _encode(self, message: dict[str, Any]) -> str | bytes:
        return bytes(msgpack.packb(message)) if self._binary else orjson.dumps(message).decode()

    def recovery(self, settings: VenueSettings) -> AlpacaRest:
        """Trade windows and crypto book snapshots inside the request budget."""
        assert settings.rest_url is not None
        return AlpacaRest(
            settings.rest_url,
            WeightBudget(settings.rest_weight_per_minute),
            api_key=settings.api_key,
            api_secret=settings.api_secret,
            timeout_s=settings.rest_timeout_s,
            max_pages=settings.backfill_max_pages,
            retry_budget_s=settings.rest_retry_budget_s,
            stock_feed=DEFAULT_PATHS[STOCKS].rsplit("/", 1)[-1],
        )

    def recorded_frame(self, stream: str, data: Any) -> bytes:
        """A recorded message as Alpaca's JSON array frame."""
        return orjson.dumps([data])

    def recorded_snapshot(self, url: str, data: Any) -> str | None:
        """``/v1beta3/crypto/us/latest/orderbooks?symbols=X`` answers are snapshots of X's book."""
        parts = urlsplit(url)
        if not parts.path.endswith("/latest/orderbooks") or not isinstance(data, dict):
            return None
        return parse_qs(parts.query).get("symbols", [""])[0] or None


def _correcting(spec: StreamSpec, trades: str) -> StreamSpec:
    return dataclasses.replace(spec, corrects=trades)
