"""A consumer's queue: direct writes while the socket keeps up, bounded queue and exact gaps when not."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from feed.downstream.consumer import Consumer, Entry, SlowConsumerPolicy
from feed.events import FeedEvent


class FakeSink:
    """A socket that can be made to apply back-pressure."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.blocked = False
        self.closed: tuple[int, str] | None = None
        self._unblocked = asyncio.Event()

    @property
    def open(self) -> bool:
        return self.closed is None

    def writable(self) -> bool:
        return self.open and not self.blocked

    def write(self, payload: bytes) -> None:
        self.messages.append(payload)

    async def drain(self) -> None:
        while self.blocked and self.open:
            self._unblocked.clear()
            await self._unblocked.wait()

    def unblock(self) -> None:
        self.blocked = False
        self._unblocked.set()

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self._unblocked.set()

    def docs(self) -> list[dict[str, object]]:
        return [orjson.loads(line) for m in self.messages for line in m.split(b"\n")]


def trade(i: int) -> Entry:
    event = FeedEvent(
        type="market",
        venue="binance-spot",
        channel="trade",
        instrument="binance-spot:BTCUSDT",
        symbol="BTCUSDT",
        stream="btcusdt@trade",
        kind="trade",
        id=i,
    )
    return (orjson.dumps({"type": "market", "stream": "btcusdt@trade", "id": i}), event)


async def test_writes_at_once_while_the_socket_keeps_up() -> None:
    sink = FakeSink()
    consumer = Consumer(sink, capacity=4)
    consumer.deliver([trade(1), trade(2)])
    assert [d["id"] for d in sink.docs()] == [1, 2] and len(sink.messages) == 1  # one message, two events
    assert consumer.sent == 2 and consumer.queued == 0


async def test_drop_oldest_reports_exact_gap_before_later_events() -> None:
    sink = FakeSink()
    consumer = Consumer(sink, capacity=3, max_batch=100)
    consumer.start()
    try:
        sink.blocked = True
        for i in range(1, 9):  # 8 events into a queue of 3: ids 1..5 dropped
            consumer.deliver([trade(i)])
        consumer.send_control(b'{"type":"subscribed"}')  # control messages are never dropped
        consumer.deliver([trade(9)])  # drops 6
        assert consumer.queued == 3 and consumer.dropped == 6
        sink.unblock()
        for _ in range(50):
            await asyncio.sleep(0)
        docs = sink.docs()
        assert docs[0] == {
            "type": "gap",
            "venue": "binance-spot",
            "channel": "trade",
            "instrument": "binance-spot:BTCUSDT",
            "symbol": "BTCUSDT",
            "stream": "btcusdt@trade",
            "kind": "trade",
            "first_id": 1,
            "id": 6,
            "detail": {"reason": "consumer queue overflow", "count": 6},
        }
        assert [d.get("id") for d in docs[1:]] == [7, 8, None, 9]
        assert consumer.sent == 3
    finally:
        await consumer.stop()


async def test_disconnect_policy_closes_a_consumer_full_for_the_grace_period() -> None:
    now = [0.0]
    sink = FakeSink()
    consumer = Consumer(
        sink, capacity=2, policy=SlowConsumerPolicy.DISCONNECT, grace_s=5.0, clock=lambda: now[0]
    )
    sink.blocked = True
    for i in range(3):
        consumer.deliver([trade(i)])
    assert sink.closed is None and consumer.dropped == 1
    now[0] = 4.9
    consumer.deliver([trade(10)])
    assert sink.closed is None
    now[0] = 5.0
    consumer.deliver([trade(11)])
    assert sink.closed is not None and sink.closed[0] == 1008 and "slow consumer" in sink.closed[1]
    assert consumer.metrics.slow_disconnects == 1
    consumer.deliver([trade(12)])  # closed: ignored
    assert consumer.queued == 0


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Consumer(FakeSink(), capacity=0)
