"""The fan-out hub: which consumer gets which event, each event encoded once for all of them.

The feed calls :meth:`Hub.on_event` synchronously for every delivered event. The hub encodes an event
only when someone subscribes its (instrument, channel), collects the events of one event-loop iteration and
hands each consumer its share in one call (so a burst becomes one WebSocket message per consumer, not one
per event). Subscription changes first flush what is pending, so a ``subscribed`` reply marks an exact
point in the feed's delivery order: its ``at`` field is the feed's delivered count at that moment, and the
consumer receives exactly the events of its channels delivered after it (the line numbers > ``at`` of the
feed's ``--jsonl`` history). Book subscribers get a snapshot at subscribe time and after every resync of
the feed's book, in order with the deltas.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from feed.adapter import BookView
from feed.downstream.consumer import Batch, Consumer, Entry
from feed.downstream.protocol import (
    BOOK,
    CHANNELS,
    PROTOCOL_VERSION,
    Key,
    ProtocolError,
    Request,
    encode,
    encode_event,
    parse_request,
    reply,
    route,
)
from feed.events import FeedEvent


class FeedView(Protocol):
    """What the hub needs of the feed."""

    delivered: int

    def book(self, instrument: str, depth: int | None = None) -> BookView | None:
        """The in-sync book of ``instrument`` or None."""

    def book_stream(self, instrument: str) -> str | None:
        """The stream that keeps ``instrument``'s book."""

    def book_id(self, instrument: str) -> int | None:
        """The id of the last update in ``instrument``'s book while in sync (cheap), else None."""


class Hub:
    """Subscriptions and fan-out of one feed to many consumers."""

    def __init__(self, feed: FeedView, instruments: Callable[[], frozenset[str]]) -> None:
        self.feed = feed
        self._instruments = instruments
        self.consumers: set[Consumer] = set()
        self._index: dict[Key, set[Consumer]] = {}
        self._subs: dict[Consumer, set[Key]] = {}
        self._pending: list[tuple[set[Consumer], Entry]] = []
        self._flush_handle: asyncio.Handle | None = None
        self._snapshot_cache: dict[str, tuple[int | None, bytes]] = {}
        self.events_seen = 0
        self.events_encoded = 0

    # -- consumers ---------------------------------------------------------------------------------

    def add(self, consumer: Consumer, welcome: dict[str, Any]) -> None:
        """Register a connected consumer and send it the welcome message."""
        self.consumers.add(consumer)
        self._subs[consumer] = set()
        consumer.send_control(
            encode({"type": "welcome", "protocol": PROTOCOL_VERSION, "channels": list(CHANNELS), **welcome})
        )

    def remove(self, consumer: Consumer) -> None:
        """Forget a consumer (connection closed)."""
        self.flush()
        for key in self._subs.pop(consumer, set()):
            subscribers = self._index.get(key)
            if subscribers is not None:
                subscribers.discard(consumer)
                if not subscribers:
                    del self._index[key]
        self.consumers.discard(consumer)

    def subscriptions(self, consumer: Consumer) -> list[Key]:
        """The (instrument, channel) keys a consumer subscribes, sorted."""
        return sorted(self._subs.get(consumer, ()))

    def subscriber_count(self, key: Key) -> int:
        """How many consumers subscribe ``key``."""
        return len(self._index.get(key, ()))

    # -- requests ----------------------------------------------------------------------------------

    def handle(self, consumer: Consumer, message: str | bytes) -> None:
        """Serve one client message; every outcome, errors included, is a reply in the consumer's stream."""
        try:
            request = parse_request(message, self._instruments())
        except ProtocolError as exc:
            consumer.send_control(encode(exc.reply()))
            return
        if request.op == "list":
            subs = [{"instrument": i, "channel": c} for i, c in self.subscriptions(consumer)]
            consumer.send_control(encode(reply("subscriptions", request, subscriptions=subs)))
        elif request.op == "subscribe":
            self._subscribe(consumer, request)
        else:
            self._unsubscribe(consumer, request)

    def _subscribe(self, consumer: Consumer, request: Request) -> None:
        self.flush()  # events delivered before this point are not this subscription's
        mine = self._subs[consumer]
        for key in request.subscription_keys():
            mine.add(key)
            self._index.setdefault(key, set()).add(consumer)
        consumer.send_control(encode(reply("subscribed", request, at=self.feed.delivered)))
        if BOOK in request.channels:
            consumer.send_control(self._snapshot(request.instrument))

    def _unsubscribe(self, consumer: Consumer, request: Request) -> None:
        self.flush()
        mine = self._subs[consumer]
        for key in request.subscription_keys():
            mine.discard(key)
            subscribers = self._index.get(key)
            if subscribers is not None:
                subscribers.discard(consumer)
                if not subscribers:
                    del self._index[key]
        consumer.send_control(encode(reply("unsubscribed", request, at=self.feed.delivered)))

    def _snapshot(self, instrument: str) -> bytes:
        """The book of ``instrument`` as a ``snapshot`` message (cached until the book changes)."""
        head = {"type": "snapshot", "instrument": instrument, "stream": self.feed.book_stream(instrument)}
        book_id = self.feed.book_id(instrument)
        cached = self._snapshot_cache.get(instrument)
        if book_id is not None and cached is not None and cached[0] == book_id:
            return cached[1]
        book = self.feed.book(instrument) if book_id is not None else None
        if book is None:
            return encode({**head, "synced": False, "id": None})
        body = encode({**head, "synced": True, "id": book.id, "bids": book.bids, "asks": book.asks})
        self._snapshot_cache[instrument] = (book.id, body)
        return body

    # -- events ------------------------------------------------------------------------------------

    def on_event(self, event: FeedEvent) -> None:
        """The feed's callback: route, encode once, queue for this loop iteration's flush."""
        self.events_seen += 1
        key = route(event)
        if key is None:
            return
        subscribers = self._index.get(key)
        if not subscribers:
            return
        self.events_encoded += 1
        entry: Entry = (encode_event(event), event)
        self._pending.append((subscribers, entry))
        if event.type == "book_resynced" and key[1] == BOOK:
            snapshot = self._snapshot(key[0])
            self._pending.append((subscribers, (snapshot, None)))
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Hand every pending event to its subscribers: one batch per consumer, shared by every consumer
        whose share of the flush is the same (its payload is then joined once)."""
        handle, self._flush_handle = self._flush_handle, None
        if handle is not None:
            handle.cancel()
        pending, self._pending = self._pending, []
        if not pending:
            return
        if len(pending) == 1:
            subscribers, entry = pending[0]
            batch = Batch([entry])
            for consumer in list(subscribers):
                consumer.deliver(batch)
            return
        shares: dict[Consumer, list[int]] = {}
        for index, (subscribers, _) in enumerate(pending):
            for consumer in subscribers:
                share = shares.get(consumer)
                if share is None:
                    shares[consumer] = [index]
                else:
                    share.append(index)
        batches: dict[tuple[int, ...], Batch] = {}
        for consumer, indexes in shares.items():
            key = tuple(indexes)
            shared = batches.get(key)
            if shared is None:
                shared = batches[key] = Batch([pending[i][1] for i in indexes])
            consumer.deliver(shared)

    def close(self) -> None:
        """Cancel a pending flush (the server is stopping)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._pending.clear()
