"""Mock venue benchmark: send rate to one fast client, and schedule lateness at x1 and x10.

The venue runs as its own process (`tickstorm venue binance-spot`), as in chaos runs. The client is picows
+ orjson (the fastest receive-and-parse client on this machine), so the figure is the venue's, not the
client's: the venue's own CPU time per message is reported beside it.

- throughput: the bundled spot-btcusdt capture (fanned out to 2 symbols) replayed as fast as possible to
  one combined-stream connection; msgs/s between the first and the last frame received.
- lateness: actual minus intended send time of every frame the venue wrote, read from its history, at
  x1 and x10 for a fixed wall-clock window.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from typing import Any

import aiohttp
import orjson
import psutil
from picows import ws_connect

from harness.throughput import CountingListener
from tickstorm.procs import ServiceProcess

VENUE = [sys.executable, "-m", "tickstorm", "venue", "binance-spot", "--bundled", "spot-btcusdt", "--paused"]
STREAM_KINDS = ("trade", "aggTrade", "depth@100ms", "bookTicker")


def _streams(symbols: list[str]) -> str:
    return "/".join(f"{s.lower()}@{kind}" for s in symbols for kind in STREAM_KINDS)


async def _state(http: aiohttp.ClientSession, control: str) -> dict[str, Any]:
    async with http.get(f"{control}/state") as resp:
        state: dict[str, Any] = await resp.json()
    return state


async def throughput(fanout: int) -> dict[str, Any]:
    """Frames/s the venue sends to one fast client, and the venue's CPU seconds per frame."""
    async with ServiceProcess([*VENUE, "--speed", "max", "--fanout", str(fanout)], name="venue") as venue:
        ready = venue.ready
        symbols = ["BTCUSDT"] + [f"BTCUSDTF{i:03d}" for i in range(1, fanout)]
        url = f"{ready['ws']}/stream?streams={_streams(symbols)}"
        transport, listener = await ws_connect(CountingListener, url)
        proc = psutil.Process(venue.pid)
        async with aiohttp.ClientSession() as http:
            cpu0 = proc.cpu_times()
            await http.post(f"{ready['control']}/replay/start", json={})
            while not (await _state(http, ready["control"]))["replay_done"]:
                await asyncio.sleep(0.2)
            before = -1
            while before != listener.count:
                before = listener.count
                await asyncio.sleep(0.3)
            cpu1 = proc.cpu_times()
            published = (await _state(http, ready["control"]))["published"]
        transport.disconnect()
    seconds = (listener.last_ns - listener.first_ns) / 1e9
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return {
        "frames_received": listener.count,
        "messages_published": published,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(listener.count / seconds) if seconds else None,
        "venue_cpu_s": round(cpu, 3),
        "venue_cpu_us_per_msg": round(cpu / listener.count * 1e6, 2) if listener.count else None,
    }


def _percentile(sorted_values: list[int], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))] / 1e3


async def lateness(speed: float, window_s: float) -> dict[str, Any]:
    """Schedule lateness (µs) of every frame sent during ``window_s`` seconds at ``speed``."""
    async with ServiceProcess([*VENUE, "--speed", str(speed)], name="venue") as venue:
        ready = venue.ready
        url = f"{ready['ws']}/stream?streams={_streams(['BTCUSDT'])}"
        transport, _listener = await ws_connect(CountingListener, url)
        async with aiohttp.ClientSession() as http:
            await http.post(f"{ready['control']}/replay/start", json={})
            await asyncio.sleep(window_s)
            async with http.get(f"{ready['control']}/history") as resp:
                history = orjson.loads(await resp.read())
        transport.disconnect()
    cols = history["columns"]
    late = sorted(a - i for a, i in zip(cols["actual_ns"], cols["intended_ns"], strict=True))
    return {
        "speed": speed,
        "window_s": window_s,
        "frames": len(late),
        "lateness_p50_us": round(statistics.median(late) / 1e3, 1),
        "lateness_p99_us": round(_percentile(late, 0.99), 1),
        "lateness_p999_us": round(_percentile(late, 0.999), 1),
        "lateness_max_us": round(late[-1] / 1e3, 1),
        "early_frames": sum(1 for x in late if x < 0),
    }


async def repeated_lateness(speed: float, window_s: float, runs: int) -> dict[str, Any]:
    """``runs`` lateness runs; the median of each figure (one noisy neighbour should not set the record)."""
    results = [await lateness(speed, window_s) for _ in range(runs)]
    keys = ("lateness_p50_us", "lateness_p99_us", "lateness_p999_us", "lateness_max_us")
    summary: dict[str, Any] = {"speed": speed, "window_s": window_s, "runs": runs}
    summary.update({f"median_{k}": statistics.median(r[k] for r in results) for k in keys})
    summary["each_run"] = results
    return summary


async def _run(quick: bool) -> dict[str, Any]:
    window = 5.0 if quick else 30.0
    runs = 1 if quick else 3
    return {
        "client": "picows + orjson (one combined-stream connection)",
        "throughput": await throughput(fanout=1 if quick else 2),
        "lateness_x1": await repeated_lateness(1.0, window, runs),
        "lateness_x10": await repeated_lateness(10.0, window, runs),
        "goals": {"msgs_per_s": ">= 100000 on one core", "lateness_p99_us_at_x1": "<= 1000"},
    }


def run(quick: bool) -> dict[str, Any]:
    """Entry point for `python -m benchmarks venue`."""
    return asyncio.run(_run(quick))
