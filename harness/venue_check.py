"""`tickstorm venue-check`: replay recordings through a mock venue process and check what a client got.

For each recording set: start `tickstorm venue binance-spot` as a separate process (paused), connect a
combined-stream client for every stream the set carries, start the replay, keep a local order book per
symbol with Binance's snapshot + diff procedure (REST snapshot through the venue's REST API), and when the
replay is done join the client's log with the venue's history:

- every venue id sent on each stream was received exactly once and in order;
- the local book of every symbol equals the venue's true book;
- the schedule lateness (actual minus intended send time) of the venue.

This is the main job's first stage (`nox -s chaos`); later stages add the feed and the fault proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import websockets
from rich.console import Console
from rich.table import Table

from feed.binance_spot.book_sync import BookSync, Step
from mock_venues.replay.source import venue_id_of
from tickstorm.procs import ServiceProcess

# (set name, replay speed): speeds keep each replay around five seconds.
DEFAULT_SETS: tuple[tuple[str, float], ...] = (
    ("spot-btcusdt", 100.0),
    ("spot-multi-2021", 20.0),
    ("spot-10sym-2021", 20.0),
    ("spot-4sym-2021", 10.0),
)


@dataclass
class CheckResult:
    """The verdict of one recording set."""

    name: str
    speed: float
    received: int = 0
    streams: int = 0
    symbols: int = 0
    problems: list[str] = field(default_factory=list)
    lateness_p50_us: float = 0.0
    lateness_p99_us: float = 0.0
    lateness_max_us: float = 0.0
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def _venue_id(payload: dict[str, Any]) -> tuple[str, int] | None:
    """(event, the venue's key) as the venue history records it (klines: their event time E)."""
    event = payload.get("e") or ("bookTicker" if "u" in payload and "b" in payload else None)
    if event not in ("trade", "aggTrade", "depthUpdate", "bookTicker", "kline"):
        return None
    return event, venue_id_of(event, payload)


async def _client(
    ws_url: str, rest_url: str, streams: list[str], received: dict[str, list[int]], books: dict[str, BookSync]
) -> None:
    url = f"{ws_url}/stream?streams={'/'.join(streams)}"
    async with aiohttp.ClientSession() as http, websockets.connect(url, max_size=2**22) as ws:
        pending: set[asyncio.Task[None]] = set()

        async def fetch_snapshot(symbol: str) -> None:
            async with http.get(f"{rest_url}/api/v3/depth", params={"symbol": symbol, "limit": 5000}) as resp:
                snap = await resp.json()
            sync = books[symbol]
            step = sync.on_snapshot(snap["lastUpdateId"], snap["bids"], snap["asks"])
            if step in (Step.REFETCH, Step.GAP):
                await asyncio.sleep(0.05)
                await fetch_snapshot(symbol)

        async for raw in ws:
            frame = orjson.loads(raw)
            stream, data = frame["stream"], frame["data"]
            found = _venue_id(data)
            if found is not None:
                received.setdefault(stream, []).append(found[1])
            if found and found[0] == "depthUpdate":
                sync = books.setdefault(data["s"], BookSync(data["s"]))
                step = sync.on_diff(data["U"], data["u"], data["b"], data["a"])
                if (step is Step.BUFFERED and len(sync.buffer) == 1) or step is Step.GAP:
                    task = asyncio.create_task(fetch_snapshot(data["s"]))
                    pending.add(task)
                    task.add_done_callback(pending.discard)


async def check_set(name: str, speed: float, console: Console) -> CheckResult:
    """Replay one bundled recording set through a venue process and check the client's view."""
    result = CheckResult(name, speed)
    started = time.monotonic()
    cmd = [sys.executable, "-m", "tickstorm", "venue", "binance-spot", "--bundled", name]
    cmd += ["--speed", str(speed), "--paused"]
    async with ServiceProcess(cmd, name=f"venue[{name}]") as venue, aiohttp.ClientSession() as http:
        ready = venue.ready
        control = ready["control"]
        state = await (await http.get(f"{control}/state")).json()
        streams = await _streams_of(http, control)
        result.streams = len(streams)
        received: dict[str, list[int]] = {}
        books: dict[str, BookSync] = {}
        client = asyncio.create_task(_client(ready["ws"], ready["rest"], streams, received, books))
        await _wait_subscribed(http, control)
        await http.post(f"{control}/replay/start")
        while not state.get("replay_done"):
            await asyncio.sleep(0.2)
            state = await (await http.get(f"{control}/state")).json()
        await asyncio.sleep(0.3)  # let the last frames arrive
        client.cancel()
        (outcome,) = await asyncio.gather(client, return_exceptions=True)
        if isinstance(outcome, Exception):
            result.problems.append(f"client failed: {type(outcome).__name__}: {outcome}")
        history = await (await http.get(f"{control}/history")).json()
        result.symbols = state["symbols"]
        _check_ids(history, received, result)
        for symbol, sync in books.items():
            true = await (await http.get(f"{control}/book/{symbol}", params={"limit": 100000})).json()
            _check_book(symbol, sync, true, result)
        _lateness(history, result)
    result.received = sum(len(v) for v in received.values())
    result.duration_s = time.monotonic() - started
    return result


async def _streams_of(http: aiohttp.ClientSession, control: str) -> list[str]:
    async with http.get(f"{control}/streams") as resp:
        streams: list[str] = await resp.json()
    return [s for s in streams if not s.endswith("@snapshot")]


async def _wait_subscribed(http: aiohttp.ClientSession, control: str) -> None:
    for _ in range(100):
        state = await (await http.get(f"{control}/state")).json()
        if state["connections"]:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the check client did not connect to the venue")


def _check_ids(history: dict[str, Any], received: dict[str, list[int]], result: CheckResult) -> None:
    cols = history["columns"]
    names = history["streams"]
    sent: dict[str, list[int]] = {}
    for idx, vid in zip(cols["stream"], cols["venue_id"], strict=True):
        sent.setdefault(names[idx], []).append(vid)
    for stream, ids in sent.items():
        got = received.get(stream, [])
        if got != ids:
            missing = sorted(set(ids) - set(got))[:5]
            result.problems.append(
                f"{stream}: sent {len(ids)} ids, received {len(got)}"
                f" (first missing: {missing or 'order differs'})"
            )
        if any(b <= a for a, b in itertools.pairwise(ids)):
            result.problems.append(f"{stream}: venue ids not strictly increasing")


def _check_book(symbol: str, sync: BookSync, true: dict[str, Any], result: CheckResult) -> None:
    if not sync.synced:
        result.problems.append(f"{symbol}: local book never synced")
        return
    bids, asks = sync.book.top()
    if sync.book.last_update_id != true["lastUpdateId"]:
        result.problems.append(
            f"{symbol}: local book at update {sync.book.last_update_id}, venue at {true['lastUpdateId']}"
        )
    if _norm(bids) != _norm(true["bids"]) or _norm(asks) != _norm(true["asks"]):
        result.problems.append(f"{symbol}: local book differs from the venue's true book")


def _norm(levels: list[list[str]]) -> list[tuple[float, float]]:
    return [(float(p), float(q)) for p, q in levels]


def _lateness(history: dict[str, Any], result: CheckResult) -> None:
    cols = history["columns"]
    late = sorted(a - i for a, i in zip(cols["actual_ns"], cols["intended_ns"], strict=True))
    if not late:
        result.problems.append("the venue sent nothing")
        return
    result.lateness_p50_us = statistics.median(late) / 1e3
    result.lateness_p99_us = late[min(len(late) - 1, int(len(late) * 0.99))] / 1e3
    result.lateness_max_us = late[-1] / 1e3


def render(results: list[CheckResult], console: Console) -> None:
    """Print the summary table and the problems found."""
    table = Table(title="venue check: recordings replayed through the mock Binance spot venue")
    for col in (
        "recording set",
        "speed",
        "verdict",
        "symbols",
        "streams",
        "received",
        "lateness p50/p99/max µs",
        "s",
    ):
        table.add_column(col, justify="right" if col not in ("recording set", "verdict") else "left")
    for r in results:
        table.add_row(
            r.name,
            f"x{r.speed:g}",
            "[green]PASS[/]" if r.ok else "[red]FAIL[/]",
            str(r.symbols),
            str(r.streams),
            f"{r.received:,}",
            f"{r.lateness_p50_us:.0f} / {r.lateness_p99_us:.0f} / {r.lateness_max_us:.0f}",
            f"{r.duration_s:.1f}",
        )
    console.print(table)
    for r in results:
        for problem in r.problems:
            console.print(f"[red]FAIL[/] {r.name}: {problem}")


async def run_checks(sets: list[tuple[str, float]], console: Console) -> list[CheckResult]:
    """Check every set one after the other (each replay is timed, so they must not share the CPU)."""
    results = []
    for name, speed in sets:
        console.print(f"replaying [bold]{name}[/] at x{speed:g} ...")
        results.append(await check_set(name, speed, console))
    return results


def register(subparsers: Any) -> None:
    """Add the `venue-check` subcommand."""
    parser = subparsers.add_parser(
        "venue-check",
        help="replay the bundled recordings through a venue process and check what a client receives",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--set", action="append", metavar="NAME", help="only this bundled set (repeatable)")
    parser.add_argument("--speed", type=float, help="override every set's replay speed")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run the checks; exit 1 when any check failed."""
    # Wide enough for the table when output goes to a CI log or a pipe (rich would assume 80 columns).
    console = Console(
        force_terminal=None if not os.environ.get("CI") else False, width=None if sys.stdout.isatty() else 132
    )
    sets = [(n, args.speed or s) for n, s in DEFAULT_SETS if not args.set or n in args.set]
    unknown = set(args.set or []) - {n for n, _ in DEFAULT_SETS}
    if unknown:
        console.print(f"[red]unknown set(s): {', '.join(sorted(unknown))}[/]")
        return 2
    results = asyncio.run(run_checks(sets, console))
    render(results, console)
    return 0 if all(r.ok for r in results) else 1
