"""The hub's fan-out: exact subscription points, one shared batch per distinct share of a flush."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from feed.downstream.consumer import Batch, Consumer
from feed.downstream.hub import Hub
from feed.events import FeedEvent
from tests.load.test_consumer import FakeSink


class Feed:
    delivered = 0

    def book(self, instrument: str, depth: int | None = None) -> Any:
        return None

    def book_stream(self, instrument: str) -> str | None:
        return None

    def book_id(self, instrument: str) -> int | None:
        return None


class RecordingConsumer(Consumer):
    """A consumer that also remembers the batch objects it was handed."""

    def __init__(self) -> None:
        super().__init__(FakeSink(), capacity=100)
        self.batches: list[Batch] = []

    def deliver(self, batch: Batch | list[Any]) -> None:
        if isinstance(batch, Batch):
            self.batches.append(batch)
        super().deliver(batch)


def event(feed: Feed, stream: str, ident: int) -> FeedEvent:
    feed.delivered += 1
    symbol = stream.partition("@")[0].upper()
    return FeedEvent(
        type="market",
        venue="binance",
        channel="trade",
        instrument=f"binance:{symbol}",
        symbol=symbol,
        stream=stream,
        kind="trade",
        id=ident,
        exchange_ns=1_000_000,
    )


def docs(consumer: Consumer) -> list[dict[str, Any]]:
    sink = consumer.sink
    assert isinstance(sink, FakeSink)
    return [orjson.loads(line) for m in sink.messages for line in m.split(b"\n")]


def subscribe(hub: Hub, consumer: Consumer, symbol: str, *channels: str) -> None:
    request = {"op": "subscribe", "id": 1, "symbol": symbol, "channels": channels}
    hub.handle(consumer, orjson.dumps(request).decode())


async def test_consumers_with_the_same_share_get_the_same_batch_and_the_rest_their_own() -> None:
    feed = Feed()
    hub = Hub(feed, lambda: frozenset({"binance:BTCUSDT", "binance:ETHUSDT"}))
    a, b, c = RecordingConsumer(), RecordingConsumer(), RecordingConsumer()
    for consumer in (a, b, c):
        hub.add(consumer, {})
    subscribe(hub, a, "btcusdt", "trade")
    subscribe(hub, b, "btcusdt", "trade")
    subscribe(hub, c, "btcusdt", "trade")
    subscribe(hub, c, "ethusdt", "trade")
    for consumer in (a, b, c):
        consumer.batches.clear()
    hub.on_event(event(feed, "btcusdt@trade", 1))
    hub.on_event(event(feed, "ethusdt@trade", 7))
    hub.on_event(event(feed, "btcusdt@trade", 2))
    await asyncio.sleep(0)  # the flush of this loop iteration
    assert a.batches[0] is b.batches[0] and a.batches[0] is not c.batches[0]
    assert [d["id"] for d in docs(a)[-2:]] == [1, 2] and [d["id"] for d in docs(b)[-2:]] == [1, 2]
    assert [d["id"] for d in docs(c)[-3:]] == [1, 7, 2]  # in the feed's delivery order
    assert a.sent == b.sent == 2 and c.sent == 3


async def test_a_subscription_starts_exactly_after_the_events_delivered_before_it() -> None:
    feed = Feed()
    hub = Hub(feed, lambda: frozenset({"binance:BTCUSDT"}))
    early, late = RecordingConsumer(), RecordingConsumer()
    hub.add(early, {})
    hub.add(late, {})
    subscribe(hub, early, "btcusdt", "trade")
    hub.on_event(event(feed, "btcusdt@trade", 1))  # pending, not yet flushed
    subscribe(hub, late, "btcusdt", "trade")  # flushes first: event 1 is not the late one's
    hub.on_event(event(feed, "btcusdt@trade", 2))
    await asyncio.sleep(0)
    subscribed = next(d for d in docs(late) if d["type"] == "subscribed")
    assert subscribed["at"] == 1  # the feed's delivered count when the subscription took effect
    assert [d["id"] for d in docs(late) if d["type"] == "market"] == [2]
    assert [d["id"] for d in docs(early) if d["type"] == "market"] == [1, 2]
