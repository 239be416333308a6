"""Feed throughput: the reference feed against a receive-and-parse ceiling, side by side in one run
(``python -m benchmarks feed`` and ``tickstorm baseline`` both run it).

All clients read the same venue process (`tickstorm venue binance-spot`, bundled spot-btcusdt, fanned out
to 2 symbols, trade + aggTrade + depth@100ms + bookTicker on one combined connection) replayed as fast as
possible, so the venue's backpressure paces each client at its own speed:

- ceiling: picows + orjson, parse and count (the fastest client we know on this machine);
- websockets + orjson, parse and count (the library the feed uses, for the choice of client);
- the feed: decode (msgspec), de-duplicate/sequence, books, delivery to a callback.

msgs/s is measured between the first and the last market message. Then feed-added latency
(delivery minus receive, monotonic ns) and venue-to-delivery latency (delivery wall time minus the event
time E the venue stamped at its intended send time, 1 ms resolution) at x10 the recorded rate.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, cast

import aiohttp
import orjson
import websockets
from hdrh.histogram import HdrHistogram
from picows import WSFrame, WSListener, WSMsgType, WSTransport

from feed.config import FeedSettings
from feed.events import FeedEvent
from feed.feed import Feed
from tickstorm.procs import ServiceProcess

VENUE = [sys.executable, "-m", "tickstorm", "venue", "binance-spot", "--bundled", "spot-btcusdt", "--paused"]
KINDS = ["trade", "aggTrade", "depth@100ms", "bookTicker"]


class CountingListener(WSListener):
    """Parses every text frame with orjson and counts them."""

    def __init__(self) -> None:
        self.count = 0
        self.first_ns = 0
        self.last_ns = 0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            orjson.loads(frame.get_payload_as_memoryview())
            now = time.monotonic_ns()
            if not self.count:
                self.first_ns = now
            self.last_ns = now
            self.count += 1
        elif frame.msg_type == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()


def _symbols(fanout: int) -> list[str]:
    return ["btcusdt"] + [f"btcusdtf{i:03d}" for i in range(1, fanout)]


async def _wait_subscribed(http: aiohttp.ClientSession, control: str, count: int) -> None:
    for _ in range(500):
        async with http.get(f"{control}/state") as resp:
            state = await resp.json()
        if sum(len(c["streams"]) for c in state["connections"].values()) >= count:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("client did not subscribe")


async def _replay(http: aiohttp.ClientSession, control: str) -> None:
    await http.post(f"{control}/replay/start", json={})
    while True:
        async with http.get(f"{control}/state") as resp:
            if (await resp.json())["replay_done"]:
                return
        await asyncio.sleep(0.1)


async def ceiling_picows(fanout: int) -> dict[str, Any]:
    """Parse-and-count with picows."""
    from picows import ws_connect

    streams = [f"{s}@{k}" for s in _symbols(fanout) for k in KINDS]
    async with ServiceProcess([*VENUE, "--speed", "max", "--fanout", str(fanout)], name="venue") as venue:
        url = f"{venue.ready['ws']}/stream?streams={'/'.join(streams)}"
        transport, client = await ws_connect(CountingListener, url)
        listener = cast(CountingListener, client)
        async with aiohttp.ClientSession() as http:
            await _wait_subscribed(http, venue.ready["control"], len(streams))
            await _replay(http, venue.ready["control"])
            await asyncio.sleep(0.5)
        transport.disconnect()
    seconds = (listener.last_ns - listener.first_ns) / 1e9
    return _rate(listener.count, seconds)


async def ceiling_websockets(fanout: int) -> dict[str, Any]:
    """Parse-and-count with the websockets library (the feed's client)."""
    streams = [f"{s}@{k}" for s in _symbols(fanout) for k in KINDS]
    async with ServiceProcess([*VENUE, "--speed", "max", "--fanout", str(fanout)], name="venue") as venue:
        url = f"{venue.ready['ws']}/stream?streams={'/'.join(streams)}"
        seen = {"count": 0, "first": 0, "last": 0}

        async def reader(ws: websockets.ClientConnection) -> None:
            while True:
                orjson.loads(await ws.recv(decode=False))
                now = time.monotonic_ns()
                seen["first"] = seen["first"] or now
                seen["last"] = now
                seen["count"] += 1

        client = websockets.connect(url, max_size=2**24, compression=None)
        async with client as ws, aiohttp.ClientSession() as http:
            await _wait_subscribed(http, venue.ready["control"], len(streams))
            task = asyncio.create_task(reader(ws))
            await _replay(http, venue.ready["control"])
            while True:  # until the client has drained what the venue sent
                before = seen["count"]
                await asyncio.sleep(0.5)
                if seen["count"] == before:
                    break
            task.cancel()
        count, first, last = seen["count"], seen["first"], seen["last"]
    return _rate(count, (last - first) / 1e9)


def _rate(count: int, seconds: float) -> dict[str, Any]:
    return {
        "messages": count,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(count / seconds) if seconds else 0,
    }


async def feed_run(fanout: int, speed: str, window_s: float | None) -> dict[str, Any]:
    """The feed reading the venue; throughput (as fast as possible) or latency (timed replay)."""
    symbols = _symbols(fanout)
    with TemporaryDirectory() as tmp:
        async with ServiceProcess([*VENUE, "--speed", speed, "--fanout", str(fanout)], name="venue") as venue:
            settings = FeedSettings(
                symbols=symbols,
                streams=KINDS,
                ws_url=venue.ready["ws"],
                rest_url=venue.ready["rest"],
                dlq_path=Path(tmp) / "dlq.sqlite",
            )
            added = HdrHistogram(1, 60_000_000_000, 3)
            end_to_end = HdrHistogram(1, 60_000_000, 3)
            wall_minus_mono = time.time_ns() - time.monotonic_ns()
            stats = {"count": 0, "first": 0, "last": 0}

            def on_event(event: FeedEvent) -> None:
                if not event.is_market:
                    return
                stats["last"] = event.deliver_ns
                if not stats["count"]:
                    stats["first"] = event.deliver_ns
                stats["count"] += 1
                added.record_value(max(event.deliver_ns - event.recv_ns, 1))
                if event.exchange_ns is not None and not event.backfilled:
                    lag_us = (event.deliver_ns + wall_minus_mono - event.exchange_ns) // 1000
                    end_to_end.record_value(max(lag_us, 1))

            async with Feed(settings) as feed, aiohttp.ClientSession() as http:
                feed.on_event(on_event)
                streams = sum(len(v.engine.streams) for v in feed.venues.values())
                await _wait_subscribed(http, venue.ready["control"], streams)
                if window_s is None:
                    await _replay(http, venue.ready["control"])
                    await asyncio.sleep(1.0)
                else:
                    await http.post(f"{venue.ready['control']}/replay/start", json={})
                    await asyncio.sleep(window_s)
                feed_stats = feed.stats()
    seconds = (stats["last"] - stats["first"]) / 1e9
    return {
        "messages": stats["count"],
        "seconds": round(seconds, 3),
        "msgs_per_s": round(stats["count"] / seconds) if seconds else 0,
        "feed_added_us": _quantiles(added, 1000),
        "venue_to_delivery_ms": _quantiles(end_to_end, 1000),
        "gaps": feed_stats["lost_ids"],
        "rejected": feed_stats["rejected"],
    }


_QUANTILES = (("p50", 50.0), ("p99", 99.0), ("p999", 99.9), ("max", 100.0))


def _quantiles(histogram: HdrHistogram, divisor: int) -> dict[str, float]:
    return {q: round(histogram.get_value_at_percentile(p) / divisor, 2) for q, p in _QUANTILES}


async def _main(quick: bool) -> dict[str, Any]:
    fanout = 1 if quick else 2
    rounds = 1 if quick else 3
    picows_runs, ws_runs, feed_runs = [], [], []
    for _ in range(rounds):  # interleaved, so drift on a shared machine hits all three alike
        picows_runs.append(await ceiling_picows(fanout))
        ws_runs.append(await ceiling_websockets(fanout))
        feed_runs.append(await feed_run(fanout, "max", None))
    best = {name: statistics.median(r["msgs_per_s"] for r in runs) for name, runs in
            (("picows", picows_runs), ("websockets", ws_runs), ("feed", feed_runs))}  # fmt: skip
    latency = await feed_run(1, "10", 10.0 if quick else 30.0)
    return {
        "workload": f"bundled spot-btcusdt x{fanout} symbols, {', '.join(KINDS)}, one combined connection",
        "throughput_msgs_per_s_median": best,
        "feed_vs_picows_ceiling": round(best["feed"] / best["picows"], 3),
        "feed_vs_websockets_ceiling": round(best["feed"] / best["websockets"], 3),
        "websockets_vs_picows": round(best["websockets"] / best["picows"], 3),
        "runs": {"picows": picows_runs, "websockets": ws_runs, "feed": feed_runs},
        "latency_at_x10": latency,
        "goals": {"feed_vs_picows_ceiling": ">= 0.7", "feed_added_p99_us_at_x10": "<= 1000"},
    }


def run(quick: bool) -> dict[str, Any]:
    """Measure everything (``quick``: one round, one symbol, a shorter latency window)."""
    return asyncio.run(_main(quick))
