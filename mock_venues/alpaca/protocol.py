"""Alpaca's stream endpoints and one session's state machine, pure (requests in, replies and stream changes
out; the server does the I/O, as in websockets' sans-I/O split).

Client stream names (the venue history's stream column, and what a feed joins on): ``<channel>.<symbol>``
with Alpaca's channel names and symbols as Alpaca writes them (``trades.IBM``, ``quotes.BTC/USD``,
``orderbooks.BTC/USD``, ``trades.SPY230901C00430000``, ``corrections.IBM``), and ``news.*`` for news
(one stream: an item has several symbols, and a session gets it once).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from mock_venues.alpaca.codec import Auth, BadRequest, Encoding, Request, Subscribe, error, success


class Market(Enum):
    """Which data an endpoint serves."""

    STOCKS = "stocks"
    CRYPTO = "crypto"
    OPTIONS = "options"
    NEWS = "news"


# Subscribe keys per market, in the order of the subscription reply.
CHANNELS: dict[Market, tuple[str, ...]] = {
    Market.STOCKS: (
        "trades",
        "quotes",
        "bars",
        "updatedBars",
        "dailyBars",
        "statuses",
        "lulds",
        "corrections",
        "cancelErrors",
    ),
    Market.CRYPTO: ("trades", "quotes", "orderbooks", "bars", "updatedBars", "dailyBars"),
    Market.OPTIONS: ("trades", "quotes"),
    Market.NEWS: ("news",),
}
MESSAGE_CHANNELS: dict[str, str] = {
    "t": "trades",
    "q": "quotes",
    "b": "bars",
    "u": "updatedBars",
    "d": "dailyBars",
    "s": "statuses",
    "l": "lulds",
    "c": "corrections",
    "x": "cancelErrors",
    "o": "orderbooks",
    "n": "news",
}
"""A data message's ``T`` -> the channel it is sent on."""
OCC_SYMBOL = re.compile(r"[A-Z]{1,6}\d{6}[CP]\d{8}")
"""An option contract symbol as Alpaca writes it (OCC without padding: ``SPY230901C00430000``)."""
NEWS_STREAM = "news.*"  # every news item, whatever its symbols (sessions filter by their own)
AUTO_CHANNELS = ("corrections", "cancelErrors")  # stocks: follow trades, not subscribable on their own
STOCK_FEEDS = ("iex", "sip", "test", "delayed_sip")
OPTION_FEEDS = ("indicative", "opra")
CRYPTO_LOCATIONS = ("us",)


@dataclass(frozen=True)
class Endpoint:
    """A stream endpoint: ``/v2/{feed}``, ``/v1beta3/crypto/{loc}``, ``/v1beta1/{feed}``, news."""

    market: Market
    feed: str
    path: str


def parse_path(path: str) -> Endpoint | None:
    """The endpoint of an upgrade path (query ignored); None for a path Alpaca does not serve."""
    route = path.split("?", 1)[0].rstrip("/")
    parts = route.split("/")[1:]
    if len(parts) == 2 and parts[0] == "v2" and parts[1] in STOCK_FEEDS:
        return Endpoint(Market.STOCKS, parts[1], route)
    if len(parts) == 3 and parts[:2] == ["v1beta3", "crypto"] and parts[2] in CRYPTO_LOCATIONS:
        return Endpoint(Market.CRYPTO, parts[2], route)
    if len(parts) == 2 and parts[0] == "v1beta1" and parts[1] in OPTION_FEEDS:
        return Endpoint(Market.OPTIONS, parts[1], route)
    if parts == ["v1beta1", "news"]:
        return Endpoint(Market.NEWS, "news", route)
    return None


def client_stream(channel: str, symbol: str) -> str:
    """The history/route name of one (channel, symbol) subscription."""
    return NEWS_STREAM if channel == "news" else f"{channel}.{symbol}"


@dataclass
class Output:
    """What the server must do after one input."""

    replies: list[dict[str, Any]] = field(default_factory=list)  # each sent alone in its own frame
    close: bool = False
    authenticated: bool = False  # this input authenticated the session
    streams_changed: bool = False


Authorizer = Callable[[str, str], int | None]
"""(key, secret) -> None (accepted) or the error code refusing it (402, 406, 409, ...)."""


class AlpacaProtocol:
    """One connection's session: auth, subscriptions, errors; pure."""

    def __init__(
        self,
        endpoint: Endpoint,
        encoding: Encoding,
        authorize: Authorizer,
        *,
        symbol_limit: int | None = None,
        header_credentials: tuple[str, str] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.encoding = encoding
        self.authorize = authorize
        self.symbol_limit = symbol_limit
        self.header_credentials = header_credentials
        self.authenticated = False
        self.key: str | None = None
        self.subs: dict[str, set[str]] = {c: set() for c in CHANNELS[endpoint.market]}

    # -- inputs ---------------------------------------------------------------------------------------

    def on_connect(self) -> Output:
        """The greeting (or 412 and a close for an options client without msgpack). Header credentials
        (APCA-API-KEY-ID / APCA-API-SECRET-KEY) authenticate right after the greeting."""
        if self.endpoint.market is Market.OPTIONS and self.encoding is not Encoding.MSGPACK:
            return Output([error(412)], close=True)
        out = Output([success("connected")])
        if self.header_credentials is not None:
            auth = self._auth(*self.header_credentials)
            out.replies += auth.replies
            out.authenticated = auth.authenticated
        return out

    def on_auth_timeout(self) -> Output:
        """The 10 s auth deadline passed: 404 and close (nothing if authenticated)."""
        if self.authenticated:
            return Output()
        return Output([error(404)], close=True)

    def on_request(self, request: Request) -> Output:
        """One decoded client frame."""
        if isinstance(request, BadRequest):
            return Output([error(400)])
        if isinstance(request, Auth):
            return self._auth(request.key, request.secret)
        if not self.authenticated:
            return Output([error(401)])
        return self._subscribe(request)

    # -- auth ---------------------------------------------------------------------------------------------

    def _auth(self, key: str, secret: str) -> Output:
        if self.authenticated:
            return Output([error(403)])
        code = self.authorize(key, secret)
        if code is not None:
            # 406 leaves the socket open (the Go SDK retries auth on it); 402/409/411 end the session.
            return Output([error(code)], close=code != 406)
        self.authenticated = True
        self.key = key
        return Output([success("authenticated")], authenticated=True)

    # -- subscriptions ------------------------------------------------------------------------------------

    def _subscribe(self, request: Subscribe) -> Output:
        market = self.endpoint.market
        allowed = set(CHANNELS[market]) - (set(AUTO_CHANNELS) if market is Market.STOCKS else set())
        for channel, symbols in request.channels.items():
            if channel not in allowed:
                return Output([error(410)])
            if (
                market is Market.OPTIONS
                and channel == "quotes"
                and "*" in symbols
                and not request.unsubscribe
            ):
                return Output([error(413)])
        new = {c: set(s) for c, s in self.subs.items()}
        for channel, symbols in request.channels.items():
            if request.unsubscribe:
                new[channel] -= set(symbols)
            else:
                new[channel] |= set(symbols)
            if market is Market.STOCKS and channel == "trades":
                for auto in AUTO_CHANNELS:
                    new[auto] = set(new["trades"])
        if self.symbol_limit is not None and _counted(new, market) > self.symbol_limit:
            return Output([error(405)])  # the previous set stays
        changed = new != self.subs
        self.subs = new
        return Output([self.subscription_message()], streams_changed=changed)

    def subscription_message(self) -> dict[str, Any]:
        """The complete current set: ``{"T":"subscription","trades":[...],...}``."""
        msg: dict[str, Any] = {"T": "subscription"}
        for channel in CHANNELS[self.endpoint.market]:
            msg[channel] = sorted(self.subs[channel])
        return msg

    def streams(self, symbols_of: Callable[[str], list[str]]) -> set[str]:
        """Client stream names the session receives now (``*`` expanded by ``symbols_of(channel)``)."""
        out: set[str] = set()
        for channel, symbols in self.subs.items():
            for symbol in symbols:
                if channel == "news":
                    out.add(NEWS_STREAM)
                elif symbol == "*":
                    out.update(client_stream(channel, s) for s in symbols_of(channel))
                else:
                    out.add(client_stream(channel, symbol))
        return out

    def news_symbols(self) -> set[str]:
        """Symbols of the news subscription (``*`` = every item)."""
        return self.subs.get("news", set())


def _counted(subs: dict[str, set[str]], market: Market) -> int:
    """Symbols counted against the plan's limit: trades and quotes (stocks/crypto/options), distinct."""
    counted = set()
    for channel in ("trades", "quotes"):
        counted |= subs.get(channel, set())
    return len(counted)
