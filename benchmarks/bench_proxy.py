"""Fault proxy benchmark: the embedded Toxiproxy beside the real toxiproxy-server, no toxics.

Three processes, as in chaos runs: a WebSocket sender (picows server on uvloop, separate process), the
proxy under test (`tickstorm proxy`, or the real toxiproxy-server when one is available), and the client
(picows + orjson, this process). Every figure is measured in this run, side by side:

- throughput: a burst of 200-byte Binance-style trade messages (text frames) sent as fast as possible,
  received through the proxy; msgs/s between first and last message, and the proxy process's CPU time
  (user + system, psutil) per message. Direct (no proxy) runs alongside as the ceiling.
- latency: the same messages paced at 1,000 msg/s, each stamped with the sender's CLOCK_MONOTONIC; one-way
  latency percentiles direct and through each proxy, and the latency the proxy adds (proxied - direct).
  The paths take turns in one-second slices (never at the same time, so they do not compete for the
  CPUs), repeated, so that drifts in machine load hit all of them alike; throughput rounds alternate too.

The real server is found through TOXIPROXY_BENCH_BINARY, then `toxiproxy-server` on PATH, then the shared
tools directory next to the checkout. Without it only embedded (and direct) figures are reported, and the
result says so; no figure is ever invented.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any, cast

import aiohttp
import orjson
import psutil
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from harness.toxiproxy_endpoint import run_binary
from tickstorm.procs import ServiceProcess
from tickstorm.service import run_async

MESSAGE_BYTES = 200
WARMUP = 20  # messages at the start of each latency connection left out (connection set-up effects)
SHARED_BINARY = Path(__file__).resolve().parents[2] / "shared" / "tools" / "toxiproxy" / "toxiproxy-server"

# The sender: a picows WebSocket server on uvloop. /burst?n=N sends N messages as fast as the socket takes
# them; /paced?rate=R&seconds=S sends R messages per second for S seconds. Each message is a 200-byte
# Binance-style trade event whose "ns" field is the send time (time.monotonic_ns, shared by all processes).
SENDER = r"""
import asyncio, json, sys, time, urllib.parse
import uvloop
from picows import WSListener, WSMsgType, ws_create_server

def message(i):
    head = ('{"ns":%d,"e":"trade","E":1700000000%03d,"s":"BTCUSDT","t":%d,"p":"43127.51000000",'
            '"q":"0.00150000","T":1700000000%03d,"m":true,"M":true,"x":"'
            % (time.monotonic_ns(), i % 1000, i, i % 1000))
    return (head + "-" * (MESSAGE_BYTES - len(head) - 2) + '"}').encode()

MESSAGE_BYTES = %(size)d

class Sender(WSListener):
    def __init__(self, path):
        url = urllib.parse.urlsplit(path.decode() if isinstance(path, bytes) else path)
        self.mode = url.path.strip("/")
        self.query = {k: float(v[0]) for k, v in urllib.parse.parse_qs(url.query).items()}
        self.paused = None

    def on_ws_connected(self, transport):
        self.transport = transport
        asyncio.get_running_loop().create_task(self.run())

    def pause_writing(self):
        self.paused = asyncio.get_running_loop().create_future()

    def resume_writing(self):
        if self.paused is not None and not self.paused.done():
            self.paused.set_result(None)

    async def run(self):
        loop = asyncio.get_running_loop()
        if self.mode == "burst":
            for i in range(int(self.query["n"])):
                self.transport.send(WSMsgType.TEXT, message(i))
                if self.paused is not None:
                    await self.paused
                    self.paused = None
        else:
            rate, seconds = self.query["rate"], self.query["seconds"]
            start = loop.time()
            for i in range(int(rate * seconds)):
                delay = start + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.transport.send(WSMsgType.TEXT, message(i))
        await asyncio.sleep(0.2)
        self.transport.send_close()
        self.transport.disconnect()

async def main():
    server = await ws_create_server(lambda request: Sender(request.path), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"event": "ready", "ws": "ws://127.0.0.1:%%d" %% port}), flush=True)
    await asyncio.Event().wait()

uvloop.run(main())
""".replace("%(size)d", str(MESSAGE_BYTES)).replace("%%", "%")


class Receiver(WSListener):
    """Counts text frames; in latency mode parses each and keeps receive - send (ns)."""

    def __init__(self, latency: bool) -> None:
        self.latency = latency
        self.count = 0
        self.first_ns = 0
        self.last_ns = 0
        self.delays: list[int] = []
        self.done = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            now = time.monotonic_ns()
            if self.latency:
                self.delays.append(now - orjson.loads(frame.get_payload_as_memoryview())["ns"])
            if not self.count:
                self.first_ns = now
            self.last_ns = now
            self.count += 1
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.done.done():
            self.done.set_result(None)


def find_real_binary() -> str | None:
    """The real toxiproxy-server to compare with, if this machine has one."""
    env = os.environ.get("TOXIPROXY_BENCH_BINARY")
    if env and Path(env).is_file():
        return env
    on_path = shutil.which("toxiproxy-server")
    if on_path:
        return on_path
    return str(SHARED_BINARY) if SHARED_BINARY.is_file() else None


async def make_proxy(api: str, upstream: str) -> str:
    """Create a proxy to ``upstream`` (host:port); returns the ws:// base to connect through it."""
    async with aiohttp.ClientSession() as http:
        await http.delete(f"{api}/proxies/bench")
        spec = {"name": "bench", "upstream": upstream, "listen": "127.0.0.1:0"}
        async with http.post(f"{api}/proxies", json=spec) as resp:
            listen = (await resp.json())["listen"]
    return f"ws://{listen}"


async def receive(base: str, path: str, latency: bool, timeout_s: float) -> Receiver:
    """Connect, receive until the sender closes."""
    transport, connected = await ws_connect(lambda: Receiver(latency), f"{base}{path}")
    listener = cast(Receiver, connected)
    try:
        await asyncio.wait_for(listener.done, timeout_s)
    finally:
        transport.disconnect()
    return listener


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far."""
    if pid is None:
        return 0.0
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def percentile(values: list[int], q: float) -> float:
    """The q-quantile in µs (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] / 1e3


async def throughput(base: str, pid: int | None, count: int) -> dict[str, Any]:
    """One burst of ``count`` messages."""
    cpu0 = cpu_seconds(pid)
    got = await receive(base, f"/burst?n={count}", latency=False, timeout_s=120)
    cpu = cpu_seconds(pid) - cpu0
    seconds = (got.last_ns - got.first_ns) / 1e9
    return {
        "received": got.count,
        "msgs_per_s": got.count / seconds if seconds > 0 else None,
        "proxy_cpu_us_per_msg": cpu / got.count * 1e6 if pid is not None and got.count else None,
    }


async def latency(base: str, seconds: float) -> list[int]:
    """One-way delays (ns) of messages paced at 1,000 msg/s (the first WARMUP of a connection dropped)."""
    got = await receive(base, f"/paced?rate=1000&seconds={seconds}", latency=True, timeout_s=seconds + 30)
    return got.delays[WARMUP:]


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _round(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b not in (None, 0) else None


async def _run(quick: bool) -> dict[str, Any]:
    count = 20_000 if quick else 100_000
    rounds = 2 if quick else 5
    seconds = 1.0
    latency_rounds = 2 if quick else 8
    binary = find_real_binary()
    sender_cmd = [sys.executable, "-c", SENDER]
    embedded_cmd = [sys.executable, "-m", "tickstorm", "proxy", "--port", "0"]
    async with ServiceProcess(sender_cmd, name="sender") as sender, ServiceProcess(embedded_cmd) as embedded:
        upstream = sender.ready["ws"].removeprefix("ws://")
        paths: dict[str, tuple[str, int | None]] = {
            "direct": (sender.ready["ws"], None),
            "embedded": (await make_proxy(embedded.ready["api"], upstream), embedded.pid),
        }
        real_cm = run_binary(binary) if binary else None
        real = await real_cm.__aenter__() if real_cm else None
        try:
            if real is not None:
                paths["real"] = (await make_proxy(real.url, upstream), real.pid)
            for base, _ in paths.values():  # warm-up: connections, JIT-free but caches and allocators
                await throughput(base, None, 2000)
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in paths}
            for _ in range(rounds):  # alternate the paths so drifts in machine load hit all of them
                for name, (base, pid) in paths.items():
                    runs[name].append(await throughput(base, pid, count))
            delays: dict[str, list[int]] = {name: [] for name in paths}
            for _ in range(latency_rounds):  # short alternating slices: drifts in load hit every path
                for name, (base, _) in paths.items():
                    delays[name] += await latency(base, seconds)
        finally:
            if real_cm is not None:
                await real_cm.__aexit__(None, None, None)

    result: dict[str, Any] = {
        "message_bytes": MESSAGE_BYTES,
        "sender": "picows WebSocket server on uvloop, separate process",
        "client": "picows + orjson, benchmark process",
        "embedded": "tickstorm proxy (uvloop, asyncio Protocols), separate process",
        "real_server": binary or "absent: only embedded and direct figures were measured",
        "throughput": {},
        "latency_at_1000_msgs_per_s": {},
    }
    for name, measured in runs.items():
        result["throughput"][name] = {
            "messages_per_round": count,
            "rounds": rounds,
            "msgs_per_s_median": round(_median([r["msgs_per_s"] for r in measured]) or 0),
            "msgs_per_s_each": [round(r["msgs_per_s"] or 0) for r in measured],
            "proxy_cpu_us_per_msg_median": (
                round(v, 2)
                if (v := _median([r["proxy_cpu_us_per_msg"] for r in measured])) is not None
                else None
            ),
            "all_received": all(r["received"] == count for r in measured),
        }
    direct_p50, direct_p99 = percentile(delays["direct"], 0.5), percentile(delays["direct"], 0.99)
    for name, values in delays.items():
        entry: dict[str, Any] = {
            "samples": len(values),
            "p50_us": round(percentile(values, 0.5), 1),
            "p99_us": round(percentile(values, 0.99), 1),
        }
        if name != "direct":
            entry["added_p50_us"] = round(entry["p50_us"] - direct_p50, 1)
            entry["added_p99_us"] = round(entry["p99_us"] - direct_p99, 1)
        result["latency_at_1000_msgs_per_s"][name] = entry
    if "real" in runs:
        tp, lat = result["throughput"], result["latency_at_1000_msgs_per_s"]
        ratios = {
            "throughput": _ratio(tp["embedded"]["msgs_per_s_median"], tp["real"]["msgs_per_s_median"]),
            "proxy_cpu_per_msg": _ratio(
                tp["embedded"]["proxy_cpu_us_per_msg_median"], tp["real"]["proxy_cpu_us_per_msg_median"]
            ),
            "added_p50": _ratio(lat["embedded"]["added_p50_us"], lat["real"]["added_p50_us"]),
            "added_p99": _ratio(lat["embedded"]["added_p99_us"], lat["real"]["added_p99_us"]),
        }
        result["ratios_embedded_over_real"] = ratios
        result["goals"] = {
            "throughput_ratio_at_least_1": ratios["throughput"] is not None and ratios["throughput"] >= 1.0,
            "added_p99_not_above_real": lat["embedded"]["added_p99_us"] <= lat["real"]["added_p99_us"],
        }
    else:
        result["ratios_embedded_over_real"] = "not measured: no real toxiproxy-server on this machine"
    return result


def run(quick: bool) -> dict[str, Any]:
    """Entry point for `python -m benchmarks proxy` (the client runs on uvloop, like the components)."""
    result: dict[str, Any] = run_async(_run(quick))
    return result
