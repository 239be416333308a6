"""The sans-I/O core of the Binance spot feed: frames and REST answers in, events and requests out.

``FeedCore`` never touches a socket or a clock of its own: the live feed (``feed.binance_spot.feed``) and
static mode (``feed.static``) call ``on_frame`` with each received frame and its receive time, answer the
core's requests (``SnapshotRequest``, ``BackfillRequest``) with ``on_snapshot``/``on_backfill``, and call
``tick`` now and then. The core decodes, de-duplicates on venue ids, keeps trade streams gap-free (hold
window for reorders, REST backfill for holes), keeps one exact local book per symbol (Binance's snapshot +
diff procedure, resync on a gap), tracks staleness, and emits :class:`~feed.events.FeedEvent` objects.
Nothing is dropped silently: a frame that cannot be decoded goes to the dead letter queue, a hole that
cannot be filled is a ``gap`` event with its id range.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from feed.binance_spot import codec
from feed.binance_spot.book_sync import BookSync, Step
from feed.events import FeedEvent
from feed.metrics import FeedMetrics, reason_kind
from feed.sequencer import Deliver, Duplicate, IdSequencer, Lost, Missing
from feed.staleness import StalenessTracker

VENUE = "binance-spot"
SEQUENCED_KINDS = ("trade", "aggTrade")  # ids grow by exactly one per message: holes are detectable
SNAPSHOT_RETRY_NS = 1_000_000_000
QUIET_RECHECK_NS = 1_500_000_000  # a book whose connection dropped and that saw no diff since is rebuilt

Emit = Callable[[FeedEvent], None]
DeadLetter = Callable[[bytes, str | None, str], None]


@dataclass(frozen=True)
class SnapshotRequest:
    """Fetch ``/api/v3/depth`` for ``symbol`` and hand it to :meth:`FeedCore.on_snapshot`."""

    symbol: str


@dataclass(frozen=True)
class BackfillRequest:
    """Fetch ids ``first_id``..``last_id`` of a trade/aggTrade stream over REST (see ``on_backfill``)."""

    stream: str
    symbol: str
    kind: str  # "trade" or "aggTrade"
    first_id: int
    last_id: int


Request = SnapshotRequest | BackfillRequest


@dataclass
class _Stream:
    name: str
    symbol: str
    kind: str
    last_id: int | None = None  # last delivered id (depth: u, bookTicker: u, kline: E)
    interrupted: bool = False  # its connection dropped since the last message (updates may be missing)
    sequencer: IdSequencer[codec.Trade | codec.AggTrade] | None = None


@dataclass
class _Book:
    sync: BookSync
    stream: str  # the depth stream that feeds this book
    pending: bool = False  # a snapshot request is out
    retry_at_ns: int = 0
    band: tuple[str, str] | None = None  # lowest bid / highest ask price of the last snapshot synced from
    interrupted_at_ns: int | None = None  # its connection dropped then, and no diff has arrived since
    wanted: bool = False  # a snapshot is needed (requested again after failures until one syncs)


@dataclass
class CoreSettings:
    """The knobs the core needs (a subset of :class:`feed.config.FeedSettings`)."""

    reorder_window_ns: int = 50_000_000
    backfill: bool = True
    max_held: int = 10_000
    diff_buffer_capacity: int = 10_000
    stale_factor: float = 10.0
    stale_floor_s: float = 1.0
    stale_ceiling_s: float = 60.0


class FeedCore:
    """Decode → de-duplicate/sequence → book → deliver, for any number of Binance spot streams."""

    def __init__(
        self,
        *,
        emit: Emit,
        clock: Callable[[], int],
        dead_letter: DeadLetter | None = None,
        metrics: FeedMetrics | None = None,
        settings: CoreSettings | None = None,
        wall_minus_mono_ns: int = 0,
    ) -> None:
        self.settings = settings or CoreSettings()
        self._emit_cb = emit
        self._clock = clock
        self._dead_letter = dead_letter
        self.metrics = metrics
        self._wall_minus_mono_ns = wall_minus_mono_ns
        self.streams: dict[str, _Stream] = {}
        self.books: dict[str, _Book] = {}
        self.requests: deque[Request] = deque()
        s = self.settings
        self.staleness = StalenessTracker(
            factor=s.stale_factor, floor_s=s.stale_floor_s, ceiling_s=s.stale_ceiling_s
        )
        self.rejected = 0
        self.duplicates = 0
        self.lost_ids = 0
        self.buffer_high_water = 0  # most events ever held at once by one buffer (diffs or reordering)
        self._bytes = 0  # hot-path counts, moved into the Prometheus counters by flush_metrics()
        self._kind_counts: dict[str, int] = {}

    # -- subscriptions -------------------------------------------------------------------------------

    def watch(self, streams: Iterable[str], now_ns: int) -> None:
        """Start handling ``streams`` (Binance names such as ``btcusdt@trade``)."""
        for name in streams:
            if name in self.streams:
                continue
            kind = codec.stream_kind(name)
            if kind is None:
                raise ValueError(f"unsupported stream {name!r}")
            symbol = name.split("@", 1)[0].upper()
            state = _Stream(name, symbol, kind)
            if kind in SEQUENCED_KINDS:
                state.sequencer = IdSequencer(
                    hold_window_ns=self.settings.reorder_window_ns,
                    max_held=self.settings.max_held,
                    backfill=self.settings.backfill,
                )
            self.streams[name] = state
            if kind == "depth" and symbol not in self.books:
                self.books[symbol] = _Book(BookSync(symbol), name)
            self.staleness.watch(name, now_ns)

    def unwatch(self, streams: Iterable[str]) -> None:
        """Stop handling ``streams`` (their books go with them)."""
        for name in streams:
            state = self.streams.pop(name, None)
            if state is None:
                continue
            self.staleness.remove(name)
            book = self.books.get(state.symbol)
            if book is not None and book.stream == name:
                del self.books[state.symbol]

    # -- input: frames -------------------------------------------------------------------------------

    def on_frame(self, frame: bytes, recv_ns: int) -> codec.Decoded | None:
        """Handle one received frame. Returns control replies/errors and serverShutdown for the caller."""
        stream, decoded = codec.decode_frame(frame)
        self._bytes += len(frame)
        metrics = self.metrics
        if isinstance(decoded, codec.Rejected):
            self._reject(decoded)
            return None
        if isinstance(decoded, codec.ControlReply | codec.ControlError | codec.ServerShutdown):
            return decoded
        state = self.streams.get(stream) if stream is not None else None
        if state is None:
            self._reject(
                codec.Rejected(frame, f"data for a stream the feed did not subscribe: {stream!r}", stream)
            )
            return None
        self._kind_counts[state.kind] = self._kind_counts.get(state.kind, 0) + 1
        if metrics is not None:
            event_ms = getattr(decoded, "E", None)
            if event_ms is not None:
                lag = (recv_ns + self._wall_minus_mono_ns) / 1e9 - event_ms / 1e3
                metrics.exchange_to_receive.observe(max(lag, 0.0))
        if self.staleness.on_message(state.name, recv_ns):
            self._state_event("fresh", state, recv_ns)
        if isinstance(decoded, codec.DepthUpdate):
            self._on_depth(state, decoded, recv_ns)
        elif isinstance(decoded, codec.Trade | codec.AggTrade):
            self._on_sequenced(state, decoded, recv_ns)
        elif isinstance(decoded, codec.BookTicker):
            self._on_deduped(state, decoded, decoded.u, recv_ns, "bookTicker")
        elif isinstance(decoded, codec.Kline):
            self._on_deduped(state, decoded, decoded.E, recv_ns, "kline")
        return None

    def _reject(self, rejected: codec.Rejected) -> None:
        self.rejected += 1
        if self.metrics is not None:
            self.metrics.decode_errors.labels(reason_kind(rejected.reason)).inc()
            self.metrics.dlq_frames.inc()
        if self._dead_letter is not None:
            self._dead_letter(rejected.raw, rejected.stream, rejected.reason)

    # -- depth ---------------------------------------------------------------------------------------

    def _on_depth(self, state: _Stream, ev: codec.DepthUpdate, recv_ns: int) -> None:
        last = state.last_id
        if last is not None and ev.u <= last:
            self._duplicate()
            return
        if last is not None and last + 1 < ev.U:
            self._gap(state, last + 1, ev.U - 1, "depth updates never received", recv_ns)
        state.last_id = ev.u
        book = self.books.get(state.symbol)
        applied = False
        if book is not None and book.stream == state.name:
            book.interrupted_at_ns = None  # this diff's continuity check tells whether anything was missed
            step = book.sync.on_diff(ev.U, ev.u, ev.b, ev.a)
            applied = step is Step.APPLIED
            if step is Step.GAP:
                self._book_invalid(state.symbol, book, "sequence gap", recv_ns)
            elif step is Step.BUFFERED:
                self._bound_diff_buffer(book)
                self._want_snapshot(book, recv_ns)
        self._deliver(
            FeedEvent(
                type="depth",
                venue=VENUE,
                symbol=state.symbol,
                stream=state.name,
                id=ev.u,
                first_id=ev.U,
                recv_ns=recv_ns,
                exchange_ms=ev.E,
                data=ev,
                detail=None if applied else {"book": "not applied (book not in sync)"},
            )
        )

    def _bound_diff_buffer(self, book: _Book) -> None:
        buffer = book.sync.buffer
        excess = len(buffer) - self.settings.diff_buffer_capacity
        if len(buffer) > self.buffer_high_water:
            self.buffer_high_water = min(len(buffer), self.settings.diff_buffer_capacity)
        if excess > 0:
            del buffer[:excess]  # older than any snapshot we can still get: dropping them loses nothing
            if self.metrics is not None:
                self.metrics.buffer_dropped_events.labels("book_diffs").inc(excess)

    def _want_snapshot(self, book: _Book, now_ns: int) -> None:
        book.wanted = True
        if not book.pending and now_ns >= book.retry_at_ns:
            book.pending = True
            self.requests.append(SnapshotRequest(book.sync.symbol))

    def _book_invalid(self, symbol: str, book: _Book, reason: str, now_ns: int) -> None:
        if self.metrics is not None:
            self.metrics.resyncs.inc()
        self._deliver(
            FeedEvent(
                type="book_invalid",
                venue=VENUE,
                symbol=symbol,
                stream=book.stream,
                recv_ns=now_ns,
                detail={"reason": reason},
            )
        )
        self._want_snapshot(book, now_ns)

    # -- input: snapshots ----------------------------------------------------------------------------

    def on_snapshot(self, symbol: str, snapshot: dict[str, Any], now_ns: int) -> None:
        """A REST depth snapshot for ``symbol`` arrived."""
        book = self.books.get(symbol)
        if book is None:
            return
        book.pending = False
        try:
            last_update_id = int(snapshot["lastUpdateId"])
            bids, asks = snapshot["bids"], snapshot["asks"]
        except (KeyError, TypeError, ValueError) as exc:
            self.on_snapshot_failed(symbol, f"malformed snapshot: {exc!r}", now_ns)
            return
        quiet = not book.sync.buffer
        step = book.sync.on_snapshot(last_update_id, bids, asks)
        if step is Step.SYNCED:
            book.wanted = False
            state = self.streams.get(book.stream)
            if quiet and state is not None and state.last_id is not None and last_update_id > state.last_id:
                # No diff arrived since the connection dropped, but the venue moved on: those ids are lost.
                self._gap(
                    state,
                    state.last_id + 1,
                    last_update_id,
                    "missed while disconnected (per snapshot)",
                    now_ns,
                )
                state.last_id = last_update_id
            book.band = _band(bids, asks)
            self._deliver(
                FeedEvent(
                    type="book_resynced",
                    venue=VENUE,
                    symbol=symbol,
                    stream=book.stream,
                    id=book.sync.book.last_update_id,
                    first_id=last_update_id,
                    recv_ns=now_ns,
                    detail={"snapshot_last_update_id": last_update_id, "resyncs": book.sync.resyncs},
                )
            )
        elif step is Step.REFETCH:
            self._want_snapshot(book, now_ns)
        elif step is Step.GAP:
            self._book_invalid(symbol, book, "gap while applying buffered diffs", now_ns)
        # Step.BUFFERED: no diff buffered yet; the next diff asks again.

    def on_snapshot_failed(self, symbol: str, reason: str, now_ns: int) -> None:
        """The snapshot request failed; it is asked again on a later diff or tick (after a pause)."""
        book = self.books.get(symbol)
        if book is None:
            return
        book.pending = False
        book.retry_at_ns = now_ns + SNAPSHOT_RETRY_NS

    # -- trades: sequenced, backfilled -----------------------------------------------------------------

    def _on_sequenced(self, state: _Stream, ev: codec.Trade | codec.AggTrade, recv_ns: int) -> None:
        assert state.sequencer is not None
        ident = ev.t if isinstance(ev, codec.Trade) else ev.a
        outputs = state.sequencer.offer(ident, ev, recv_ns)
        if state.sequencer.held > self.buffer_high_water:
            self.buffer_high_water = state.sequencer.held
        self._apply_outputs(state, outputs, recv_ns)

    def _apply_outputs(self, state: _Stream, outputs: list[Any], recv_ns: int) -> None:
        for out in outputs:
            if isinstance(out, Deliver):
                item = out.item
                state.last_id = out.id
                self._deliver(
                    FeedEvent(
                        type=state.kind,
                        venue=VENUE,
                        symbol=state.symbol,
                        stream=state.name,
                        id=out.id,
                        recv_ns=recv_ns,
                        exchange_ms=item.E,
                        backfilled=out.backfilled,
                        data=item,
                    )
                )
                if out.backfilled and self.metrics is not None:
                    self.metrics.backfilled_events.inc()
            elif isinstance(out, Duplicate):
                self._duplicate()
            elif isinstance(out, Missing):
                self.requests.append(
                    BackfillRequest(state.name, state.symbol, state.kind, out.first_id, out.last_id)
                )
            elif isinstance(out, Lost):
                self._gap(state, out.first_id, out.last_id, "missed and not recoverable over REST", recv_ns)

    def on_backfill(
        self, stream: str, items: list[tuple[int, codec.Trade | codec.AggTrade]], now_ns: int
    ) -> None:
        """Trades fetched over REST for a hole the core asked about (any order; extras ignored)."""
        state = self.streams.get(stream)
        if state is None or state.sequencer is None:
            return
        self._apply_outputs(state, state.sequencer.fill(items), now_ns)

    def on_backfill_failed(self, stream: str, reason: str, now_ns: int) -> None:
        """Backfill is impossible: the hole becomes a gap and held live trades are released."""
        state = self.streams.get(stream)
        if state is None or state.sequencer is None:
            return
        self._apply_outputs(state, state.sequencer.abandon(), now_ns)

    def resume(self, last_ids: dict[str, int]) -> None:
        """Continue from ids delivered by an earlier run of the feed (a restart after a crash).

        Each watched stream starts from its last delivered (or declared lost) id, as if its connection had
        dropped: trade ids missed while the feed was down are backfilled over REST, depth's continuity check
        reports the skipped updates as a gap, bookTicker/kline report the skipped range.
        """
        for name, last_id in last_ids.items():
            state = self.streams.get(name)
            if state is None:
                continue
            state.last_id = last_id
            state.interrupted = True
            if state.sequencer is not None:
                state.sequencer.last_id = last_id

    # -- de-duplicated only ----------------------------------------------------------------------------

    def interrupted(self, streams: list[str]) -> None:
        """The connection carrying ``streams`` dropped: what the venue sent meanwhile is unknown.

        Sequenced streams find their holes by id and depth by its continuity check; bookTicker and kline
        ids do not step by one, so their next message reports the skipped id range as a gap.
        """
        now = self._clock()
        for name in streams:
            state = self.streams.get(name)
            if state is None:
                continue
            state.interrupted = True
            book = self.books.get(state.symbol)
            if book is not None and book.stream == name:
                # A diff after the reconnect is checked for continuity as usual; a quiet symbol may send
                # none, so tick() rebuilds its book if nothing arrived QUIET_RECHECK_NS after the last drop
                # (debounced: a flapping connection does not cost one snapshot per symbol per flap).
                book.interrupted_at_ns = now

    def _on_deduped(self, state: _Stream, ev: Any, ident: int, recv_ns: int, kind: str) -> None:
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
        self._deliver(
            FeedEvent(
                type=kind,
                venue=VENUE,
                symbol=state.symbol,
                stream=state.name,
                id=ident,
                recv_ns=recv_ns,
                exchange_ms=getattr(ev, "E", None),
                data=ev,
            )
        )

    # -- time ------------------------------------------------------------------------------------------

    def tick(self, now_ns: int) -> None:
        """Expire reorder hold windows, report stale streams, retry failed snapshots, flush metrics."""
        self.flush_metrics()
        for state in self.streams.values():
            if state.sequencer is not None and state.sequencer.next_deadline_ns() is not None:
                self._apply_outputs(state, state.sequencer.tick(now_ns), now_ns)
        for name in self.staleness.check(now_ns):
            stale = self.streams.get(name)
            if stale is not None:
                self._state_event("stale", stale, now_ns)
        for symbol, book in self.books.items():
            if book.interrupted_at_ns is not None and now_ns - book.interrupted_at_ns >= QUIET_RECHECK_NS:
                book.interrupted_at_ns = None
                if book.sync.synced:
                    book.sync.invalidate()
                    self._book_invalid(symbol, book, "connection interrupted, no diff since", now_ns)
            retry_due = not book.pending and now_ns >= book.retry_at_ns
            if not book.sync.synced and (book.sync.buffer or book.wanted) and retry_due:
                self._want_snapshot(book, now_ns)

    def flush_metrics(self) -> None:
        """Move the hot-path message and byte counts into the Prometheus counters (called from tick)."""
        metrics = self.metrics
        if metrics is None:
            return
        if self._bytes:
            metrics.bytes.inc(self._bytes)
            self._bytes = 0
        for kind, count in self._kind_counts.items():
            if count:
                metrics.messages.labels(kind).inc(count)
                self._kind_counts[kind] = 0

    def next_deadline_ns(self) -> int | None:
        """When ``tick`` next has work to do (None: only staleness, on its own schedule)."""
        deadlines = [s.sequencer.next_deadline_ns() for s in self.streams.values() if s.sequencer is not None]
        deadlines.append(self.staleness.next_deadline_ns())
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    # -- output ----------------------------------------------------------------------------------------

    def connection_event(self, state: str, now_ns: int, **detail: Any) -> None:
        """Report a connection state change (from the I/O shell) as an event."""
        self._deliver(
            FeedEvent(type="connection", venue=VENUE, recv_ns=now_ns, detail={"state": state, **detail})
        )

    def subscription_event(self, streams: list[str], accepted: bool, now_ns: int, **detail: Any) -> None:
        """Report a subscription the venue accepted or refused."""
        self._deliver(
            FeedEvent(
                type="subscription",
                venue=VENUE,
                recv_ns=now_ns,
                detail={"streams": streams, "accepted": accepted, **detail},
            )
        )

    def _state_event(self, kind: str, state: _Stream, now_ns: int) -> None:
        if self.metrics is not None:
            self.metrics.stale_streams.set(len(self.staleness.stale()))
        self._deliver(
            FeedEvent(
                type=kind,
                venue=VENUE,
                symbol=state.symbol,
                stream=state.name,
                recv_ns=now_ns,
                detail={"threshold_ms": self.staleness.threshold_ns(state.name) / 1e6},
            )
        )

    def _gap(self, state: _Stream, first_id: int, last_id: int, reason: str, now_ns: int) -> None:
        count = last_id - first_id + 1
        self.lost_ids += count
        if self.metrics is not None:
            self.metrics.gaps.labels(state.kind).inc()
            self.metrics.lost_ids.labels(state.kind).inc(count)
        self._deliver(
            FeedEvent(
                type="gap",
                venue=VENUE,
                symbol=state.symbol,
                stream=state.name,
                id=last_id,
                first_id=first_id,
                recv_ns=now_ns,
                detail={"reason": reason, "count": count},
            )
        )

    def _duplicate(self) -> None:
        self.duplicates += 1
        if self.metrics is not None:
            self.metrics.duplicates_dropped.inc()

    def _deliver(self, event: FeedEvent) -> None:
        event.deliver_ns = self._clock()
        if self.metrics is not None and event.recv_ns:
            self.metrics.receive_to_delivery.observe((event.deliver_ns - event.recv_ns) / 1e9)
        self._emit_cb(event)


def _band(bids: list[list[str]], asks: list[list[str]]) -> tuple[str, str] | None:
    """The price range a snapshot covers: levels outside it may be missing from a book built on it."""
    if not bids or not asks:
        return None
    return min((b[0] for b in bids), key=float), max((a[0] for a in asks), key=float)
