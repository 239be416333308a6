"""The venue-neutral, sans-I/O core of the feed: frames and REST answers in, events and requests out.

One :class:`VenueEngine` per venue instance. It never touches a socket, a clock or a metric: the live
feed (:mod:`feed.venue_feed`) and static mode (:mod:`feed.static`) hand it each received frame with its
receive time, answer its requests (:class:`~feed.adapter.SnapshotRequest`,
:class:`~feed.adapter.BackfillRequest`) and call :meth:`VenueEngine.tick` now and then; they pull what it
produced with :meth:`~VenueEngine.events_received`, :meth:`~VenueEngine.requests_to_send` and
:meth:`~VenueEngine.dead_letters` (the websockets library's sans-I/O protocol objects work the same way).
Nothing here calls user code, so an exception in a subscriber cannot leave the engine half-updated.

The engine decodes with the venue's adapter, de-duplicates on venue ids, keeps each stream's continuity the
way its :class:`~feed.adapter.Continuity` allows (a hold window for reorders and REST backfill for holes in
STEP streams; gap detection in CHAINED ones; skipped ranges after an interruption in INCREASING ones),
keeps one exact local book per instrument with the adapter's :class:`~feed.adapter.BookSync`, tracks
staleness and counts everything in plain integers (:class:`Counters`; the shell moves them into
Prometheus). Nothing is dropped silently: a frame that cannot be decoded becomes a dead letter, a hole
that cannot be filled a ``gap`` event with its id range.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from feed.adapter import (
    BackfillRequest,
    BookSync,
    Continuity,
    ControlError,
    ControlReply,
    Decoded,
    Market,
    Notice,
    Rejected,
    Request,
    SnapshotRequest,
    Step,
    StreamSpec,
    VenueAdapter,
    WindowFill,
    WindowRequest,
)
from feed.events import MARKET, FeedEvent, instrument_id
from feed.journal import REBASE
from feed.sequencer import Deliver, Duplicate, IdSequencer, Lost, Missing
from feed.staleness import StalenessTracker

SNAPSHOT_RETRY_NS = 1_000_000_000
QUIET_RECHECK_NS = 1_500_000_000  # a book whose connection dropped and that saw no diff since is rebuilt

REASON_KINDS: tuple[tuple[str, str], ...] = (
    # (reason prefix as written by the codecs and the engine, bounded label value)
    ("malformed JSON", "malformed_json"),
    ("malformed msgpack", "malformed_msgpack"),
    ("expected an array", "not_an_array"),
    ("expected a JSON object", "not_an_object"),
    ("invalid combined-stream frame", "invalid_frame"),
    ("unknown stream", "unknown_stream"),
    ("unsupported stream kind", "unsupported_kind"),
    ("data for a stream the feed did not subscribe", "unsubscribed_stream"),
    ("market data without a stream name", "unsubscribed_stream"),
    ("invalid serverShutdown", "invalid_control"),
    ("invalid error reply", "invalid_control"),
    ("control reply id", "invalid_control"),
    ("unrecognised message", "unrecognised_message"),
    ("invalid ", "invalid_payload"),  # "invalid <kind> payload: ..." (kept last: the shortest prefix)
)
"""Rejection reasons mapped to the bounded ``reason_kind`` label (venue text never becomes a label)."""


def reason_kind(reason: str) -> str:
    """The bounded ``reason_kind`` label value of a rejection reason (``other`` when unknown)."""
    for prefix, kind in REASON_KINDS:
        if reason.startswith(prefix):
            return kind
    return "other"


@dataclass
class EngineSettings:
    """The knobs the engine needs (from the venue's and the feed's settings)."""

    reorder_window_ns: int = 50_000_000
    backfill: bool = True
    max_held: int = 10_000
    diff_buffer_capacity: int = 10_000
    stale_factor: float = 10.0
    stale_floor_s: float = 1.0
    stale_ceiling_s: float = 60.0
    dedupe_horizon_ns: int = 600_000_000_000  # TIME streams remember delivered keys this far back
    max_dedupe_keys: int = 200_000  # and at most this many per stream


@dataclass
class Counters:
    """What the engine counted since it started (cumulative; the shell exports them as metrics)."""

    bytes: int = 0
    messages: dict[str, int] = field(default_factory=dict)  # by stream kind
    rejected: dict[str, int] = field(default_factory=dict)  # by reason kind
    duplicates: int = 0
    gaps: dict[str, int] = field(default_factory=dict)  # gap events by stream kind
    lost_ids: dict[str, int] = field(default_factory=dict)  # ids inside gaps by stream kind
    resyncs: int = 0
    backfilled: int = 0
    book_diffs_dropped: int = 0
    windows: int = 0  # time windows requested over REST (TIME streams)

    @property
    def rejected_total(self) -> int:
        """Frames rejected into the dead letter queue."""
        return sum(self.rejected.values())

    @property
    def lost_total(self) -> int:
        """Ids reported lost."""
        return sum(self.lost_ids.values())


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected frame: raw bytes, the stream it claimed (if legible), why, and when it arrived."""

    raw: bytes
    stream: str | None
    reason: str
    recv_ns: int


@dataclass
class _Stream:
    spec: StreamSpec
    instrument: str
    last_id: int | None = None  # last delivered id (or declared lost)
    interrupted: bool = False  # its connection dropped since the last message (updates may be missing)
    live: bool = True  # subscribed on an open connection (False from a drop until the resubscribe is sent)
    resumed: bool = False  # last_id came from a journal and no live message has confirmed it yet
    sequencer: IdSequencer[Market] | None = None
    timed: _TimeState | None = None  # TIME streams


class _TimeState:
    """A TIME stream's continuity: newest exchange time delivered, the keys delivered recently (for
    de-duplication against a REST window), the open window after a drop and the live messages held while
    it is fetched."""

    __slots__ = ("gap_from_ns", "held", "keys", "last_ns", "open", "order", "window")

    def __init__(self) -> None:
        self.last_ns: int | None = None
        self.keys: set[Any] = set()
        self.order: deque[tuple[int, Any]] = deque()
        self.open = False  # a drop opened a window that the next live message closes
        self.gap_from_ns: int | None = None  # where that window starts (None: nothing known before it)
        self.window: WindowRequest | None = None
        self.held: list[tuple[Market, int]] = []

    def remember(self, key: Any, ns: int, horizon_ns: int, cap: int) -> None:
        self.keys.add(key)
        self.order.append((ns, key))
        newest = self.last_ns if self.last_ns is not None else ns
        order = self.order
        while order and (len(order) > cap or order[0][0] < newest - horizon_ns):
            self.keys.discard(order.popleft()[1])


def _dedupe_key(item: Market) -> Any:
    return item.key if item.key is not None else item.id


@dataclass
class _Book:
    sync: BookSync
    stream: str  # the stream that feeds this book
    instrument: str
    pending: bool = False  # a snapshot request is out
    retry_at_ns: int = 0
    interrupted_at_ns: int | None = None  # its connection dropped, and no update has arrived since
    wanted: bool = False  # a snapshot is needed (requested again after failures until one syncs)


class VenueEngine:
    """Decode -> de-duplicate/sequence -> book -> events, for the streams of one venue instance."""

    def __init__(self, venue: str, adapter: VenueAdapter, settings: EngineSettings | None = None) -> None:
        self.venue = venue
        self.adapter = adapter
        self.settings = settings or EngineSettings()
        self._codec = adapter.codec()
        self.streams: dict[str, _Stream] = {}
        self.books: dict[str, _Book] = {}  # by symbol
        s = self.settings
        self.staleness = StalenessTracker(
            factor=s.stale_factor, floor_s=s.stale_floor_s, ceiling_s=s.stale_ceiling_s
        )
        self.counters = Counters()
        self.buffer_high_water = 0  # most events ever held at once by one buffer (book updates or reordering)
        self._events: list[FeedEvent] = []
        self._requests: deque[Request] = deque()
        self._letters: list[DeadLetter] = []
        self._venue_ns: int | None = None  # newest exchange time seen on any TIME stream (the venue's clock)

    # -- pull API ------------------------------------------------------------------------------------

    def events_received(self) -> list[FeedEvent]:
        """The events produced since the last call, in delivery order (``deliver_ns`` still 0)."""
        events, self._events = self._events, []
        return events

    def requests_to_send(self) -> list[Request]:
        """Recovery requests produced since the last call (answer with the ``receive_*`` methods)."""
        out = list(self._requests)
        self._requests.clear()
        return out

    def dead_letters(self) -> list[DeadLetter]:
        """Frames rejected since the last call."""
        letters, self._letters = self._letters, []
        return letters

    @property
    def has_output(self) -> bool:
        """Whether anything waits to be pulled."""
        return bool(self._events or self._requests or self._letters)

    # -- subscriptions -------------------------------------------------------------------------------

    def watch(self, specs: Iterable[StreamSpec], now_ns: int) -> None:
        """Start handling streams."""
        for spec in specs:
            if spec.name in self.streams:
                continue
            state = _Stream(spec, instrument_id(self.venue, spec.symbol))
            if spec.continuity is Continuity.STEP:
                state.sequencer = IdSequencer(
                    hold_window_ns=self.settings.reorder_window_ns,
                    max_held=self.settings.max_held,
                    backfill=self.settings.backfill and spec.backfill,
                )
            elif spec.continuity is Continuity.TIME:
                state.timed = _TimeState()
            self.streams[spec.name] = state
            if spec.book and spec.symbol not in self.books:
                self.books[spec.symbol] = _Book(self.adapter.book(spec), spec.name, state.instrument)
            if not spec.sparse:
                self.staleness.watch(spec.name, now_ns)

    def unwatch(self, names: Iterable[str]) -> None:
        """Stop handling streams (their books go with them)."""
        for name in names:
            state = self.streams.pop(name, None)
            if state is None:
                continue
            self.staleness.remove(name)
            book = self.books.get(state.spec.symbol)
            if book is not None and book.stream == name:
                del self.books[state.spec.symbol]

    # -- input: frames -------------------------------------------------------------------------------

    def receive_frame(self, frame: bytes, recv_ns: int) -> ControlReply | ControlError | Notice | None:
        """Handle one received frame; control answers and notices are returned for the I/O shell."""
        self.counters.bytes += len(frame)
        decoded = self._codec.decode(frame)
        if isinstance(decoded, list):
            control: ControlReply | ControlError | Notice | None = None
            for one in decoded:
                answer = self._receive_item(frame, one, recv_ns)
                control = control or answer
            return control
        return self._receive_item(frame, decoded, recv_ns)

    def _receive_item(
        self, frame: bytes, decoded: Decoded, recv_ns: int
    ) -> ControlReply | ControlError | Notice | None:
        if type(decoded) is not Market:
            if isinstance(decoded, Rejected):
                self._reject(decoded.raw, decoded.stream, decoded.reason, recv_ns)
                return None
            assert isinstance(decoded, ControlReply | ControlError | Notice)
            return decoded
        item = decoded
        state = self.streams.get(item.stream)
        if state is None:
            self._reject(
                frame, item.stream, f"data for a stream the feed did not subscribe: {item.stream!r}", recv_ns
            )
            return None
        if state.resumed:
            self._check_resumed(state, item, recv_ns)
        spec = state.spec
        messages = self.counters.messages
        messages[spec.kind] = messages.get(spec.kind, 0) + 1
        if not spec.sparse and self.staleness.on_message(spec.name, recv_ns):
            self._state_event("fresh", state, recv_ns)
        continuity = spec.continuity
        if spec.book:
            self._on_book_update(state, item, recv_ns)
        elif continuity is Continuity.STEP:
            self._on_sequenced(state, item, recv_ns)
        elif continuity is Continuity.TIME:
            self._on_timed(state, item, recv_ns)
        else:
            self._on_deduped(state, item, recv_ns)
        return None

    def _reject(self, raw: bytes, stream: str | None, reason: str, recv_ns: int) -> None:
        rejected = self.counters.rejected
        kind = reason_kind(reason)
        rejected[kind] = rejected.get(kind, 0) + 1
        self._letters.append(DeadLetter(raw, stream, reason, recv_ns))

    # -- books ---------------------------------------------------------------------------------------

    def _on_book_update(self, state: _Stream, item: Market, recv_ns: int) -> None:
        ident = item.id
        if ident is not None:
            last = state.last_id
            if last is not None and ident <= last:
                self._duplicate()
                return
            first = item.first_id if item.first_id is not None else ident
            if last is not None and last + 1 < first and state.spec.continuity is Continuity.CHAINED:
                self._gap(state, last + 1, first - 1, "depth updates never received", recv_ns)
            state.last_id = ident
        state.live = True  # an update arrived, so the stream flows (whatever the shell reported)
        book = self.books.get(state.spec.symbol)
        applied = False
        if book is not None and book.stream == state.spec.name:
            book.interrupted_at_ns = None  # this update's continuity check tells whether anything was missed
            step = book.sync.on_update(item)
            applied = step is Step.APPLIED or step is Step.SYNCED
            if step is Step.SYNCED:  # the update carried the whole book (Alpaca's reset flag)
                book.wanted = False
                self._book_resynced(book, state, recv_ns)
            elif step is Step.GAP:
                self._book_invalid(book, "sequence gap", recv_ns)
            elif step is Step.BUFFERED:
                self._bound_book_buffer(book)
                self._want_snapshot(book, recv_ns)
        self._deliver_market(
            state, item, recv_ns, detail=None if applied else {"book": "not applied (book not in sync)"}
        )

    def _bound_book_buffer(self, book: _Book) -> None:
        capacity = self.settings.diff_buffer_capacity
        held = book.sync.buffered()
        if held > self.buffer_high_water:
            self.buffer_high_water = min(held, capacity)
        self.counters.book_diffs_dropped += book.sync.trim(capacity)

    def _want_snapshot(self, book: _Book, now_ns: int) -> None:
        book.wanted = True
        if not book.pending and now_ns >= book.retry_at_ns and self.streams[book.stream].live:
            book.pending = True
            self._requests.append(SnapshotRequest(book.stream))

    def _book_invalid(self, book: _Book, reason: str, now_ns: int) -> None:
        self.counters.resyncs += 1
        self._book_event("book_invalid", book, self.streams[book.stream], None, {"reason": reason}, now_ns)
        self._want_snapshot(book, now_ns)

    def receive_snapshot(self, stream: str, snapshot: Any, now_ns: int) -> None:
        """A book snapshot for the book kept by ``stream`` arrived."""
        state = self.streams.get(stream)
        book = self.books.get(state.spec.symbol) if state is not None else None
        if state is None or book is None or book.stream != stream:
            return
        book.pending = False
        quiet = book.sync.buffered() == 0
        try:
            step = book.sync.on_snapshot(snapshot)
        except ValueError as exc:
            self.snapshot_failed(stream, str(exc), now_ns)
            return
        if step is Step.SYNCED:
            book.wanted = False
            snap_id = book.sync.last_update_id()
            if quiet and state.last_id is not None and snap_id is not None and snap_id > state.last_id:
                # No update arrived since the connection dropped, but the venue moved on: those ids are lost.
                self._gap(
                    state, state.last_id + 1, snap_id, "missed while disconnected (per snapshot)", now_ns
                )
                state.last_id = snap_id
            self._book_resynced(book, state, now_ns)
        elif step is Step.REFETCH:
            self._want_snapshot(book, now_ns)
        elif step is Step.GAP:
            self._book_invalid(book, "gap while applying buffered updates", now_ns)
        # Step.BUFFERED: nothing buffered yet; the next update asks again.

    def _book_resynced(self, book: _Book, state: _Stream, now_ns: int) -> None:
        detail = {"resyncs": book.sync.resyncs}
        self._book_event("book_resynced", book, state, book.sync.last_update_id(), detail, now_ns)

    def _book_event(
        self, kind: str, book: _Book, state: _Stream, ident: int | None, detail: dict[str, Any], now_ns: int
    ) -> None:
        self._emit(
            FeedEvent(
                type=kind,
                venue=self.venue,
                channel=state.spec.channel,
                instrument=book.instrument,
                symbol=state.spec.symbol,
                stream=book.stream,
                kind=state.spec.kind,
                id=ident,
                recv_ns=now_ns,
                detail=detail,
            )
        )

    def snapshot_failed(self, stream: str, reason: str, now_ns: int) -> None:
        """The snapshot request failed; it is asked again on a later update or tick (after a pause)."""
        state = self.streams.get(stream)
        book = self.books.get(state.spec.symbol) if state is not None else None
        if book is None:
            return
        book.pending = False
        book.retry_at_ns = now_ns + SNAPSHOT_RETRY_NS

    # -- sequenced streams: held for reorders, backfilled ------------------------------------------------

    def _on_sequenced(self, state: _Stream, item: Market, recv_ns: int) -> None:
        assert state.sequencer is not None and item.id is not None
        outputs = state.sequencer.offer(item.id, item, recv_ns)
        if state.sequencer.held > self.buffer_high_water:
            self.buffer_high_water = state.sequencer.held
        self._apply_outputs(state, outputs, recv_ns)

    def _apply_outputs(self, state: _Stream, outputs: list[Any], recv_ns: int) -> None:
        for out in outputs:
            if isinstance(out, Deliver):
                state.last_id = out.id
                self._deliver_market(state, out.item, recv_ns, backfilled=out.backfilled)
                if out.backfilled:
                    self.counters.backfilled += 1
            elif isinstance(out, Duplicate):
                self._duplicate()
            elif isinstance(out, Missing):
                self._requests.append(BackfillRequest(state.spec.name, out.first_id, out.last_id))
            elif isinstance(out, Lost):
                self._gap(state, out.first_id, out.last_id, "missed and not recoverable over REST", recv_ns)

    def receive_backfill(self, stream: str, items: list[Market], now_ns: int) -> None:
        """Messages fetched over REST for a hole the engine asked about (any order; extras ignored)."""
        state = self.streams.get(stream)
        if state is None or state.sequencer is None:
            return
        pairs = [(item.id, item) for item in items if item.id is not None]
        self._apply_outputs(state, state.sequencer.fill(pairs), now_ns)

    def backfill_failed(self, stream: str, reason: str, now_ns: int) -> None:
        """Backfill is impossible: the hole becomes a gap and held live messages are released."""
        state = self.streams.get(stream)
        if state is None or state.sequencer is None:
            return
        self._apply_outputs(state, state.sequencer.abandon(), now_ns)

    @property
    def backfilling(self) -> bool:
        """Whether a hole waits for a backfill answer."""
        return any(s.sequencer is not None and s.sequencer.waiting is not None for s in self.streams.values())

    def resume(self, last_ids: dict[str, int], unverified: Iterable[str] = ()) -> None:
        """Continue from ids delivered by an earlier run of the feed (a restart after a crash).

        Each watched stream starts from its last delivered (or declared lost) id, as if its connection had
        dropped: ids missed while the feed was down are backfilled where the stream allows, a chained
        stream's continuity check reports the skipped updates as a gap, others report the skipped range.
        Streams in ``unverified`` (the venue could not confirm the journal's id over REST) check their first
        live message: an id below the journal's means the journal is ahead of the venue (a ``gap`` event
        with ``detail.rebase``, then the venue's ids).
        """
        check = set(unverified)
        for name, last_id in last_ids.items():
            state = self.streams.get(name)
            if state is None:
                continue
            state.last_id = last_id
            state.interrupted = True
            state.resumed = name in check
            if state.sequencer is not None:
                state.sequencer.last_id = last_id

    def _check_resumed(self, state: _Stream, item: Market, recv_ns: int) -> None:
        """The first live message of a resumed stream: an id below the journal's means the journal is ahead
        of the venue (not this venue's, or tampered with). The stream continues from the venue's ids, and a
        ``gap`` event (``detail.rebase``) says so: what was delivered before cannot be trusted."""
        state.resumed = False
        journal_id = state.last_id
        if item.id is None or journal_id is None or item.id >= journal_id:
            return
        first = item.first_id if item.first_id is not None else item.id
        state.last_id = first - 1
        if state.sequencer is not None:
            state.sequencer.last_id = first - 1
        self._emit_gap(
            state,
            first - 1,
            None,
            {
                "reason": "resumed journal ahead of the venue: continuing from the venue's ids",
                "journal_id": journal_id,
                "venue_id": item.id,
                "count": None,
                REBASE: True,
            },
            recv_ns,
        )

    # -- de-duplicated only ----------------------------------------------------------------------------

    def interrupted(self, streams: list[str], now_ns: int) -> None:
        """The connection carrying ``streams`` dropped: what the venue sent meanwhile is unknown.

        Sequenced streams find their holes by id and chained ones by their continuity check; increasing
        ids do not step by one, so their next message reports the skipped id range as a gap.
        """
        for name in streams:
            state = self.streams.get(name)
            if state is None:
                continue
            state.interrupted = True
            state.live = False
            timed = state.timed
            if timed is not None and not timed.open:
                timed.open = True
                timed.gap_from_ns = timed.last_ns if timed.last_ns is not None else self._venue_ns
            book = self.books.get(state.spec.symbol)
            if book is not None and book.stream == name and state.spec.continuity is Continuity.TIME:
                # No ids: an update after the reconnect cannot prove that nothing was missed, so the book
                # is invalid until the venue sends the whole book again (or a snapshot rebuilds it).
                if book.sync.synced:
                    book.sync.invalidate()
                    self._book_invalid(book, "connection interrupted: a book without ids cannot be bridged",
                                       now_ns)  # fmt: skip
                continue
            if book is not None and book.stream == name:
                # An update after the reconnect is checked for continuity as usual; a quiet symbol may send
                # none, so tick() rebuilds its book if nothing arrived QUIET_RECHECK_NS after the stream is
                # live again (debounced: a flapping connection costs no snapshot per symbol per flap).
                book.interrupted_at_ns = now_ns

    def subscribed(self, streams: list[str], now_ns: int) -> None:
        """The I/O shell asked for ``streams`` on an open connection: their updates flow again.

        Snapshots are taken only for live streams (Binance's procedure: open the stream, buffer, then
        snapshot; a snapshot taken while the stream is down cannot be bridged by the updates that follow and
        costs a second one), so books that wanted one meanwhile ask now, and the quiet recheck of an
        interrupted book counts from now rather than from the drop.
        """
        for name in streams:
            state = self.streams.get(name)
            if state is None or state.live:
                continue
            state.live = True
            book = self.books.get(state.spec.symbol)
            if book is None or book.stream != name:
                continue
            if book.interrupted_at_ns is not None:
                book.interrupted_at_ns = now_ns
            if not book.sync.synced and (book.sync.buffered() or book.wanted):
                self._want_snapshot(book, now_ns)

    def _on_deduped(self, state: _Stream, item: Market, recv_ns: int) -> None:
        ident = item.id
        if ident is not None:
            if state.last_id is not None and ident <= state.last_id:
                self._duplicate()
                return
            if state.interrupted:
                state.interrupted = False
                if state.last_id is not None and ident > state.last_id + 1:
                    self._gap(
                        state, state.last_id + 1, ident - 1, "connection interrupted: may be missing", recv_ns
                    )
            state.last_id = ident
        self._deliver_market(state, item, recv_ns)

    # -- time-window continuity (no sequence: Continuity.TIME) --------------------------------------------

    def _on_timed(self, state: _Stream, item: Market, recv_ns: int) -> None:
        timed = state.timed
        assert timed is not None
        key = _dedupe_key(item)
        if key is not None and key in timed.keys:
            self._duplicate()
            return
        ns = item.exchange_ns
        if ns is not None and (self._venue_ns is None or ns > self._venue_ns):
            self._venue_ns = ns
        if timed.window is not None:  # a window is being fetched: live messages wait behind it
            timed.held.append((item, recv_ns))
            if len(timed.held) > self.buffer_high_water:
                self.buffer_high_water = len(timed.held)
            if len(timed.held) > self.settings.max_held:
                self.window_failed(state.spec.name, "too many live messages held behind the window", recv_ns)
            return
        if timed.open and state.interrupted:
            # The first live message after a reconnect closes the window the drop opened.
            state.interrupted = timed.open = False
            from_ns, timed.gap_from_ns = timed.gap_from_ns, None
            to_ns = ns if ns is not None else self._venue_ns
            if from_ns is None or to_ns is None:
                reason = "connection interrupted before anything was delivered: the window's start is unknown"
                self._time_gap(state, from_ns, to_ns, reason, recv_ns)
            elif to_ns >= from_ns:
                if state.spec.backfill and self.settings.backfill:
                    timed.window = WindowRequest(state.spec.name, from_ns, to_ns)
                    timed.held.append((item, recv_ns))
                    self.counters.windows += 1
                    self._requests.append(timed.window)
                    return
                self._time_gap(
                    state, from_ns, to_ns, "connection interrupted: the venue offers no REST window", recv_ns
                )
        state.interrupted = False
        self._deliver_timed(state, item, recv_ns, key)

    def _correction_detail(self, state: _Stream, item: Market) -> dict[str, Any] | None:
        """A correction/cancel refers to an earlier message: say which stream, and whether the feed
        delivered that message (the correction is delivered as its own event; nothing is rewritten)."""
        target = state.spec.corrects
        if target is None or item.refers is None:
            return None
        corrected = self.streams.get(target)
        timed = corrected.timed if corrected is not None else None
        delivered = timed is not None and item.refers in timed.keys
        return {"corrects": target, "original_delivered": delivered}

    def _deliver_timed(
        self, state: _Stream, item: Market, recv_ns: int, key: Any, backfilled: bool = False
    ) -> None:
        timed = state.timed
        assert timed is not None
        ns = item.exchange_ns
        if ns is not None and (timed.last_ns is None or ns > timed.last_ns):
            timed.last_ns = ns
        if key is not None:
            timed.remember(
                key, ns if ns is not None else (timed.last_ns or 0), self.settings.dedupe_horizon_ns,
                self.settings.max_dedupe_keys,
            )  # fmt: skip
        detail = self._correction_detail(state, item) if item.refers is not None else None
        self._deliver_market(state, item, recv_ns, backfilled=backfilled, detail=detail)

    def receive_window(self, stream: str, fill: WindowFill, now_ns: int) -> None:
        """The REST answer to a :class:`~feed.adapter.WindowRequest`: what it holds that was not delivered
        yet goes out (``backfilled``, in exchange-time order), then the live messages held behind it; an
        incomplete answer leaves a ``gap`` for the part it did not cover."""
        state = self.streams.get(stream)
        timed = state.timed if state is not None else None
        if state is None or timed is None or timed.window is None:
            return
        window, timed.window = timed.window, None
        found = [
            m for m in fill.items
            if m.exchange_ns is not None and window.from_ns <= m.exchange_ns <= window.to_ns
        ]  # fmt: skip
        found.sort(key=lambda m: m.exchange_ns or 0)
        reached = window.from_ns
        for item in found:
            key = _dedupe_key(item)
            reached = max(reached, item.exchange_ns or reached)
            if key is not None and key in timed.keys:
                self._duplicate()
                continue
            self.counters.backfilled += 1
            self._deliver_timed(state, item, now_ns, key, backfilled=True)
        if not fill.complete:
            start = fill.covered_to_ns if fill.covered_to_ns is not None else reached
            self._time_gap(
                state, start, window.to_ns, "REST window only partly fetched (page budget)", now_ns
            )
        self._release_held(state)

    def window_failed(self, stream: str, reason: str, now_ns: int) -> None:
        """The window cannot be fetched: it becomes a ``gap`` with its time range, and the live messages
        held behind it are released."""
        state = self.streams.get(stream)
        timed = state.timed if state is not None else None
        if state is None or timed is None or timed.window is None:
            return
        window, timed.window = timed.window, None
        self._time_gap(state, window.from_ns, window.to_ns, f"REST window failed: {reason}", now_ns)
        self._release_held(state)

    def _release_held(self, state: _Stream) -> None:
        timed = state.timed
        assert timed is not None
        held, timed.held = timed.held, []
        for item, recv_ns in held:
            key = _dedupe_key(item)
            if key is not None and key in timed.keys:
                self._duplicate()
                continue
            self._deliver_timed(state, item, recv_ns, key)

    def stop(self, now_ns: int) -> None:
        """The feed is stopping: the outage windows of TIME streams whose connection is still down are
        reported now, as a ``gap`` by time without an end (``to_ns`` null), instead of ending with the
        process unreported; a window being fetched fails (its gap, then the live messages held behind it).
        A stream subscribed again but quiet since keeps its window for its next message, as while running
        (its window would end at the resubscribe, a time the exchange clock does not show)."""
        for state in self.streams.values():
            timed = state.timed
            if timed is None:
                continue
            if timed.window is not None:
                self.window_failed(state.spec.name, "the feed stopped before the window was fetched", now_ns)
            elif timed.open and state.interrupted and not state.live:
                state.interrupted = timed.open = False
                from_ns, timed.gap_from_ns = timed.gap_from_ns, None
                reason = "the feed stopped during an outage: the window never closed"
                self._time_gap(state, from_ns, None, reason, now_ns)

    @property
    def windows_pending(self) -> int:
        """Time windows waiting for their REST answer."""
        return sum(1 for s in self.streams.values() if s.timed is not None and s.timed.window is not None)

    def _time_gap(
        self, state: _Stream, from_ns: int | None, to_ns: int | None, reason: str, now_ns: int
    ) -> None:
        """A window of a TIME stream that cannot be proven complete: a ``gap`` with its time range."""
        detail = {"reason": reason, "from_ns": from_ns, "to_ns": to_ns, "count": None}
        self._emit_gap(state, None, None, detail, now_ns)

    # -- time ------------------------------------------------------------------------------------------

    def tick(self, now_ns: int) -> None:
        """Expire reorder hold windows, report stale streams, retry failed snapshots."""
        for state in self.streams.values():
            if state.sequencer is not None and state.sequencer.next_deadline_ns() is not None:
                self._apply_outputs(state, state.sequencer.tick(now_ns), now_ns)
        for name in self.staleness.check(now_ns):
            stale = self.streams.get(name)
            if stale is not None:
                self._state_event("stale", stale, now_ns)
        for book in self.books.values():
            if not self.streams[book.stream].live:
                continue  # asked for again once the stream is resubscribed (see subscribed())
            if book.interrupted_at_ns is not None and now_ns - book.interrupted_at_ns >= QUIET_RECHECK_NS:
                book.interrupted_at_ns = None
                if book.sync.synced:
                    book.sync.invalidate()
                    self._book_invalid(book, "connection interrupted, no update since", now_ns)
            retry_due = not book.pending and now_ns >= book.retry_at_ns
            if not book.sync.synced and (book.sync.buffered() or book.wanted) and retry_due:
                self._want_snapshot(book, now_ns)

    def next_deadline_ns(self) -> int | None:
        """When :meth:`tick` next has work to do (None: only staleness, on its own schedule)."""
        deadlines = [s.sequencer.next_deadline_ns() for s in self.streams.values() if s.sequencer is not None]
        deadlines.append(self.staleness.next_deadline_ns())
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    # -- output ----------------------------------------------------------------------------------------

    def connection_event(self, state: str, now_ns: int, **detail: Any) -> None:
        """Report a connection state change (from the I/O shell) as an event."""
        self._emit(
            FeedEvent(
                type="connection",
                venue=self.venue,
                channel="status",
                recv_ns=now_ns,
                detail={"state": state, **detail},
            )
        )

    def subscription_event(self, streams: list[str], accepted: bool, now_ns: int, **detail: Any) -> None:
        """Report a subscription the venue accepted or refused."""
        self._emit(
            FeedEvent(
                type="subscription",
                venue=self.venue,
                channel="status",
                recv_ns=now_ns,
                detail={"streams": streams, "accepted": accepted, **detail},
            )
        )

    def _state_event(self, kind: str, state: _Stream, now_ns: int) -> None:
        spec = state.spec
        self._emit(
            FeedEvent(
                type=kind,
                venue=self.venue,
                channel=spec.channel,
                instrument=state.instrument,
                symbol=spec.symbol,
                stream=spec.name,
                kind=spec.kind,
                recv_ns=now_ns,
                detail={"threshold_ms": self.staleness.threshold_ns(spec.name) / 1e6},
            )
        )

    def _gap(self, state: _Stream, first_id: int, last_id: int, reason: str, now_ns: int) -> None:
        count = last_id - first_id + 1
        lost = self.counters.lost_ids
        lost[state.spec.kind] = lost.get(state.spec.kind, 0) + count
        self._emit_gap(state, last_id, first_id, {"reason": reason, "count": count}, now_ns)

    def _emit_gap(
        self, state: _Stream, last_id: int | None, first_id: int | None, detail: dict[str, Any], now_ns: int
    ) -> None:
        """Count a gap on the stream's kind and emit its ``gap`` event."""
        spec = state.spec
        self.counters.gaps[spec.kind] = self.counters.gaps.get(spec.kind, 0) + 1
        self._emit(
            FeedEvent(
                type="gap",
                venue=self.venue,
                channel=spec.channel,
                instrument=state.instrument,
                symbol=spec.symbol,
                stream=spec.name,
                kind=spec.kind,
                id=last_id,
                first_id=first_id,
                recv_ns=now_ns,
                detail=detail,
            )
        )

    def _duplicate(self) -> None:
        self.counters.duplicates += 1

    def _deliver_market(
        self,
        state: _Stream,
        item: Market,
        recv_ns: int,
        *,
        backfilled: bool = False,
        detail: dict[str, Any] | None = None,
    ) -> None:
        spec = state.spec
        self._events.append(
            FeedEvent(
                type=MARKET,
                venue=self.venue,
                channel=spec.channel,
                instrument=state.instrument,
                symbol=spec.symbol,
                stream=spec.name,
                kind=spec.kind,
                id=item.id,
                first_id=item.first_id,
                exchange_ns=item.exchange_ns,
                recv_ns=recv_ns,
                backfilled=backfilled,
                data=item.data,
                detail=detail,
            )
        )

    def _emit(self, event: FeedEvent) -> None:
        self._events.append(event)
