"""Downstream fan-out benchmark: one event to N subscribers through the hub, against bare socket writes.

The feed's :class:`~feed.downstream.server.DownstreamServer` runs in this process on uvloop (as in the
feed), with a stand-in feed that ingests one symbol; N subscribers connect from another process
(``benchmarks.fanout_subscribers``, picows) and subscribe its trades. For each N the benchmark delivers
events one by one (each its own flush, as a lone venue frame is in the feed) and times the flush: route,
encode once, each consumer's share, frame header, socket write, latency observation. Side by side, on the
same connections, it times the ceiling: a bare loop of ``transport.write`` of the same ready-made frame to
every socket. The difference is the hub's and the consumers' own cost per subscriber; the ceiling is
mostly the kernel's loopback ``send``. Every subscriber must count every event, or the run fails.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any, cast

import orjson
import uvloop

from feed.downstream.protocol import encode_event
from feed.downstream.server import DownstreamOptions, DownstreamServer, WebSocketSink, _text_header
from feed.events import FeedEvent

SYMBOL = "btcusdt"
INSTRUMENT = "binance-spot:BTCUSDT"


class StandInFeed:
    """What the hub reads of a feed: a delivered count and (no) books."""

    delivered = 0

    def book_stream(self, instrument: str) -> str | None:
        """No book: this benchmark subscribes trades only."""
        return None

    def book_id(self, instrument: str) -> int | None:
        """No book."""
        return None

    def book(self, instrument: str, depth: int | None = None) -> Any:
        """No book: this benchmark subscribes trades only."""
        return None


def _trade(i: int) -> FeedEvent:
    now_ms = int(time.time() * 1000)
    data = {
        "e": "trade",
        "E": now_ms,
        "s": "BTCUSDT",
        "t": i,
        "p": "67123.45000000",
        "q": "0.00150000",
        "T": now_ms,
        "m": bool(i % 2),
        "M": True,
    }
    return FeedEvent(
        type="market",
        venue="binance-spot",
        channel="trade",
        instrument=INSTRUMENT,
        symbol="BTCUSDT",
        stream=f"{SYMBOL}@trade",
        kind="trade",
        id=i,
        exchange_ns=now_ms * 1_000_000,
        data=data,
    )


def _per_subscriber_us(samples_ns: list[int], n: int) -> dict[str, float]:
    per = sorted(s / n / 1000 for s in samples_ns)
    return {
        "median": round(statistics.median(per), 2),
        "p90": round(per[int(len(per) * 0.9)], 2),
    }


async def _measure(n: int, events: int, pause_s: float) -> dict[str, Any]:
    feed = StandInFeed()
    server = DownstreamServer(
        feed, DownstreamOptions(http_port=None), instruments=lambda: frozenset({INSTRUMENT})
    )
    await server.start()
    subscribers = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "benchmarks.fanout_subscribers", server.url, str(n), INSTRUMENT, "trade"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert subscribers.stdout is not None and subscribers.stdin is not None
        ready = await asyncio.wait_for(subscribers.stdout.readline(), 90)
        assert orjson.loads(ready) == {"ready": n}, ready
        await asyncio.sleep(0.5)
        hub = server.hub
        transports = [cast(WebSocketSink, c.sink).connection.transport for c in hub.consumers]
        assert len(transports) == n
        product: list[int] = []
        ceiling: list[int] = []

        def through_hub(ident: int) -> None:
            event = _trade(ident)
            feed.delivered += 1
            started = time.perf_counter_ns()
            hub.on_event(event)
            hub.flush()
            product.append(time.perf_counter_ns() - started)

        def bare(ident: int) -> None:
            body = encode_event(_trade(ident))
            feed.delivered += 1
            started = time.perf_counter_ns()
            frame = _text_header(len(body)) + body
            for transport in transports:
                transport.write(frame)
            ceiling.append(time.perf_counter_ns() - started)

        for i in range(events):  # alternate which goes first: no order bias
            for write in (through_hub, bare) if i % 2 == 0 else (bare, through_hub):
                write(len(product) + len(ceiling))
                await asyncio.sleep(pause_s)
        subscribers.stdin.close()
        counts_line = await asyncio.wait_for(subscribers.stdout.readline(), 30)
        counts = orjson.loads(counts_line)["events"]
    finally:
        if subscribers.returncode is None:
            subscribers.terminate()
        await asyncio.wait_for(subscribers.wait(), 10)
        await server.stop()
    missing = sum(2 * events - c for c in counts)
    if missing:
        raise RuntimeError(f"{n} subscribers: {missing} events not received")
    hub_us = _per_subscriber_us(product, n)
    raw_us = _per_subscriber_us(ceiling, n)
    return {
        "subscribers": n,
        "events": events,
        "flush_ms": {
            "median": round(statistics.median(product) / 1e6, 2),
            "max": round(max(product) / 1e6, 2),
        },
        "hub_us_per_subscriber": hub_us,
        "bare_write_us_per_subscriber": raw_us,
        "hub_over_bare": round(hub_us["median"] / raw_us["median"], 2),
        "every_event_received": True,
    }


def run(quick: bool) -> dict[str, Any]:
    """Measure at 100 and 500 subscribers (quick: 50 and 100, fewer events)."""
    sizes = (50, 100) if quick else (100, 500)
    events = 50 if quick else 300
    results = [uvloop.run(_measure(n, events, pause_s=0.005)) for n in sizes]
    for r in results:
        print(
            f"{r['subscribers']} subscribers: hub {r['hub_us_per_subscriber']['median']} us/subscriber, "
            f"bare write {r['bare_write_us_per_subscriber']['median']} us/subscriber "
            f"(x{r['hub_over_bare']}), flush median {r['flush_ms']['median']} ms",
            flush=True,
        )
    return {"runs": results}
