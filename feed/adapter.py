"""The seam between the venue-neutral feed and one venue: what an adapter (``feed/<venue>/``) provides.

The feed's venue-neutral parts (:mod:`feed.engine`: sequencing, de-duplication, books, staleness, gaps,
dead letters; :mod:`feed.venue_feed`: connections, backoff, REST recovery; :mod:`feed.feed`: delivery,
journal, metrics, the downstream hub) drive any venue through a :class:`VenueAdapter`:

- **streams**: which subscription units the venue has and, for each, a :class:`StreamSpec` saying its
  symbol, normalized channel and how continuity is proven (:class:`Continuity`);
- **codec** (pure, bytes in): a frame becomes one :class:`Market` item, a control answer
  (:class:`ControlReply`, :class:`ControlError`, :class:`Notice`) or a :class:`Rejected` frame;
- **books** (pure): the venue's documented local order book procedure as a :class:`BookSync`;
- **connections** (pure encoders): the URL of a connection carrying some streams, and the control frames
  that subscribe/unsubscribe streams on it; its :class:`VenueLimits`;
- **recovery** (thin I/O): a :class:`Recovery` that fetches book snapshots and backfills missed ids;
- **static mode** (pure): how a normalized recording's messages look on the wire.

Adding a venue is one package per side registered by name (:mod:`feed.registry`); docs/adding-a-venue.md
walks through it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import msgspec

if TYPE_CHECKING:
    from feed.config import VenueSettings


class Continuity(enum.Enum):
    """How the ids of a stream prove that nothing was lost."""

    STEP = "step"
    """Ids grow by exactly one per message (Binance trade ``t``, aggregate ``a``): a hole is a loss, held
    back for a reorder window, then backfilled over REST where the venue allows, else reported as a gap."""
    CHAINED = "chained"
    """Each message covers ids ``first_id..id`` and the next starts at ``id + 1`` (Binance diff depth
    ``U``/``u``): a break is a gap, and the stream's book is rebuilt from a snapshot."""
    INCREASING = "increasing"
    """Ids only increase and may skip (Binance bookTicker ``u``, kline event time): duplicates and order
    are checked; after a connection drop the skipped range is reported as a possible loss."""
    TIME = "time"
    """No sequence at all, only the venue's exchange time and a de-duplication key per message (Alpaca,
    Polygon): continuity can only be proven by time window. After a connection drop the window between the
    last message delivered and the first live one after the reconnect is fetched over REST
    (:class:`WindowRequest`, streams with ``backfill``) and de-duplicated by key; a window that cannot be
    fetched, or only partly, and every window of a stream without ``backfill`` is a ``gap`` event with its
    time range (``detail.from_ns``/``detail.to_ns``)."""
    NONE = "none"
    """No ids at all: nothing can be proven by id (the adapter's recovery must cover reconnects)."""


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One subscription unit of a venue, as the feed handles it."""

    name: str  # the venue's own stream name, verbatim ("btcusdt@depth@100ms")
    symbol: str  # the venue's symbol, verbatim ("BTCUSDT")
    kind: str  # the venue's stream kind ("depth"): a bounded label value
    channel: str  # normalized channel (feed.events.CHANNELS)
    continuity: Continuity
    book: bool = False  # this stream keeps the symbol's local order book
    backfill: bool = False  # missed ids (STEP) or time windows (TIME) can be fetched over REST
    corrects: str | None = None  # a correction stream: the stream whose messages it corrects/cancels


# -- what the codec returns (one item per frame) -----------------------------------------------------------


class Market(msgspec.Struct, frozen=True, gc=False):
    """A market data message of ``stream``: its continuity ids, exchange time (Unix ns) and payload.

    ``key`` is the message's de-duplication key when the id alone is not unique (Alpaca stock trades are
    unique per exchange and id: ``("V", 628)``); None means ``id`` is the key. TIME streams de-duplicate
    on it. ``refers`` is set on corrections and cancels: the key of the message they correct (on the
    stream their spec ``corrects``); the engine says whether the feed delivered that message."""

    stream: str
    id: int | None
    first_id: int | None
    exchange_ns: int | None
    data: Any
    key: Any = None
    refers: Any = None  # a correction or cancel: the key of the earlier message it refers to


class ControlReply(msgspec.Struct, frozen=True):
    """The venue accepted a control request (``request_id`` as the feed sent it)."""

    request_id: int | str | None
    result: Any = None


class ControlError(msgspec.Struct, frozen=True):
    """The venue refused a control request."""

    request_id: int | str | None
    code: int
    msg: str


class Notice(msgspec.Struct, frozen=True):
    """Something the venue announced about the connection (``server_shutdown``: reconnect now)."""

    kind: str
    detail: dict[str, Any] = msgspec.field(default_factory=dict)


class Rejected(msgspec.Struct, frozen=True):
    """A frame that is not a valid message of the venue: the dead letter queue keeps its raw bytes."""

    raw: bytes
    reason: str
    stream: str | None = None


Decoded = Market | ControlReply | ControlError | Notice | Rejected


class Codec(Protocol):
    """Pure: one received frame in, one decoded item out (a list for venues that batch several messages
    in one frame, e.g. Alpaca's arrays; control answers then come alone); never raises."""

    def decode(self, frame: bytes) -> Decoded | list[Decoded]:
        """Decode one frame."""


# -- books ----------------------------------------------------------------------------------------------


class Step(enum.Enum):
    """What a book update or snapshot did, and what the engine must do next."""

    BUFFERED = "buffered"  # waiting for a snapshot (ask for one)
    APPLIED = "applied"
    STALE = "stale"  # older than the book; ignored
    SYNCED = "synced"  # snapshot accepted and buffered updates applied: the book is exact
    REFETCH = "refetch"  # the snapshot cannot be used: fetch another
    GAP = "gap"  # updates were missed: the book is invalid, rebuild it from a snapshot


@dataclass
class BookView:
    """A book as the feed reports it: levels best first, the id of the last update applied, and the price
    band inside which the venue's procedure makes it exact (None: everywhere)."""

    id: int | None
    bids: list[list[str]]
    asks: list[list[str]]
    band: tuple[str, str] | None = None

    def body(self) -> dict[str, Any]:
        """The JSON form (docs/events.md, "books")."""
        return {
            "id": self.id,
            "bids": self.bids,
            "asks": self.asks,
            "band": list(self.band) if self.band else None,
        }


class BookSync(Protocol):
    """One instrument's local order book kept exact by the venue's documented procedure. Pure."""

    synced: bool
    resyncs: int

    def on_update(self, item: Market) -> Step:
        """Apply (or buffer) one book message."""

    def on_snapshot(self, snapshot: Any) -> Step:
        """Apply a snapshot the adapter's :class:`Recovery` fetched."""

    def invalidate(self) -> None:
        """Drop the book: the next snapshot rebuilds it."""

    def last_update_id(self) -> int | None:
        """The id of the last update applied (the snapshot's right after a sync; None while not synced)."""

    def buffered(self) -> int:
        """Updates waiting for a snapshot."""

    def trim(self, capacity: int) -> int:
        """Keep at most ``capacity`` buffered updates (the oldest go); returns how many were dropped."""

    def view(self, depth: int | None = None) -> BookView:
        """The book's levels (only meaningful while synced)."""


# -- requests the engine makes, answered by the shell through the adapter's Recovery --------------------


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """Fetch a book snapshot for the book kept by ``stream``."""

    stream: str


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    """Fetch ids ``first_id``..``last_id`` of ``stream`` (a STEP stream with ``backfill``)."""

    stream: str
    first_id: int
    last_id: int


@dataclass(frozen=True, slots=True)
class WindowRequest:
    """Fetch what ``stream`` (a TIME stream with ``backfill``) published with exchange times ``from_ns``
    through ``to_ns`` (Unix ns, both inclusive; the engine drops what it already delivered)."""

    stream: str
    from_ns: int
    to_ns: int


@dataclass(frozen=True, slots=True)
class WindowFill:
    """The answer to a :class:`WindowRequest`: the messages found and whether the window is complete
    (``complete`` False: the budget ran out; ``covered_to_ns`` says how far the answer reaches)."""

    items: list[Market]
    complete: bool = True
    covered_to_ns: int | None = None


Request = SnapshotRequest | BackfillRequest | WindowRequest


class RecoveryError(RuntimeError):
    """A recovery request failed (``status`` is the HTTP status when there was one)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Recovery(Protocol):
    """The venue's REST side as the feed uses it (thin I/O, inside the venue's limits)."""

    requests: int
    throttled: int
    weight_used: int  # request weight spent so far (the shell moves it into the metrics)

    async def start(self) -> None:
        """Open the HTTP session."""

    async def close(self) -> None:
        """Close it."""

    async def snapshot(self, spec: StreamSpec) -> Any:
        """A book snapshot for ``spec``'s book (handed to :meth:`BookSync.on_snapshot`)."""

    async def backfill(self, spec: StreamSpec, first_id: int, last_id: int) -> list[Market]:
        """The messages ``first_id``..``last_id`` of ``spec`` (any order; missing ones stay lost)."""

    async def window(self, spec: StreamSpec, from_ns: int, to_ns: int) -> WindowFill:
        """The messages of ``spec`` with exchange times ``from_ns``..``to_ns`` (TIME streams with
        ``backfill``; adapters without them raise :class:`RecoveryError`)."""

    async def instruments(self) -> set[str] | None:
        """Every symbol the venue lists, upper-case (None: the venue has no listing; nothing is checked).

        The feed refuses configured symbols missing from it at start."""

    async def latest_id(self, spec: StreamSpec) -> int | None:
        """The newest continuity id the venue has for ``spec`` right now (None: the venue cannot tell).

        A resumed feed checks its journal against it: a journal id beyond it cannot have come from this
        venue. Return None for streams the venue's REST side cannot answer cheaply; the engine then checks
        the stream's first live message instead."""


# -- limits and the adapter ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VenueLimits:
    """The venue's documented limits and the feed's defaults inside them (settings may only go lower)."""

    max_streams_per_connection: int
    default_streams_per_connection: int
    control_messages_per_second: float  # the venue's limit
    default_control_messages_per_second: float
    connection_attempts: int  # per window, the venue's limit
    default_connection_attempts: int
    attempt_window_s: float
    max_connection_age_s: float | None  # the venue cuts connections after this long
    rest_weight_per_minute: int | None = None  # the venue's REST budget (None: no REST)
    default_rest_weight_per_minute: int | None = None
    ping_interval_s: float = 20.0  # client pings (the watchdog also pings a quiet connection)
    max_connections: int | None = (
        None  # connections per endpoint URL (None: no limit); 1: no rotation overlap
    )


@dataclass(frozen=True)
class Login:
    """A venue's login step on every new connection, before anything is subscribed.

    The connection waits for the venue's greeting (a :class:`Notice` of kind ``greeting``; None: none is
    sent), sends ``frames`` (the credentials), then waits for a :class:`Notice` of kind ``success``. A
    :class:`ControlError` instead is a failed login (connection state ``login_failed`` with the venue's
    code): codes in ``fatal_codes`` stop that connection for good (its streams are reported refused),
    others are retried on a new connection with the feed's backoff. No answer within ``timeout_s``
    counts as a failure too (retried)."""

    frames: tuple[str | bytes, ...] = field(repr=False)  # credentials: never in a repr or a log
    greeting: str | None = "connected"
    success: str = "authenticated"
    fatal_codes: frozenset[int] = frozenset()
    timeout_s: float = 10.0
    headers: tuple[tuple[str, str], ...] = ()  # extra HTTP headers on the upgrade request


@dataclass(frozen=True)
class Defaults:
    """What a venue's settings default to when not given."""

    ws_url: str
    rest_url: str | None
    symbols: tuple[str, ...]
    streams: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)


class VenueAdapter(Protocol):
    """Everything venue-specific the feed needs; the feed creates one per venue instance."""

    name: ClassVar[str]  # the registry name, also the venue's CLI name
    limits: ClassVar[VenueLimits]
    defaults: ClassVar[Defaults]

    def validate(self, settings: VenueSettings) -> list[str]:
        """Problems with venue-specific settings (symbols, streams, options), one line each."""

    def stream_specs(self, settings: VenueSettings) -> list[StreamSpec]:
        """The streams to subscribe for ``settings`` (symbols x stream kinds)."""

    def parse_stream(self, name: str) -> StreamSpec | None:
        """The spec of a stream name (None: not a stream this adapter handles)."""

    def codec(self) -> Codec:
        """A codec for this venue instance."""

    def book(self, spec: StreamSpec) -> BookSync:
        """A new local book for the instrument of ``spec`` (a ``book`` stream)."""

    def connection_url(self, settings: VenueSettings, streams: Sequence[str]) -> str:
        """Where a connection carrying ``streams`` connects (it then subscribes with control frames).

        The pool asks it per stream: streams with different URLs (a venue with one endpoint per asset
        class) never share a connection, and ``limits.max_connections`` holds per URL."""

    def control_frames(self, method: str, streams: Sequence[str], request_id: int) -> list[str | bytes]:
        """The frames that ``subscribe``/``unsubscribe`` ``streams`` on a connection (``str``: text frames,
        ``bytes``: binary frames). Venues whose replies carry no request id have their replies matched to
        the connection's oldest pending request."""

    def login(self, settings: VenueSettings) -> Login | None:
        """The login step of a new connection (None: the venue needs none)."""

    def recovery(self, settings: VenueSettings) -> Recovery:
        """The venue's REST recovery client for ``settings``."""

    # -- static mode: a normalized recording (tickstorm.recording) through the same pipeline ------------

    def recorded_frame(self, stream: str, data: Any) -> bytes:
        """The frame the venue sent for a recorded WebSocket message of ``stream``."""

    def recorded_snapshot(self, url: str, data: Any) -> str | None:
        """The symbol whose book a recorded REST answer is a snapshot of (None: not a snapshot)."""
