"""`tickstorm venue-check`: replay recordings through every mock venue process and check what a client got.

For each registered venue and each of its check sets (``check_sets``: a bundled recording and a speed):
start `tickstorm venue <name>` as a separate process (paused), connect the venue's bare reference client
for every stream the set carries, start the replay, and when it is done join what the client received
with the venue's history:

- every venue id sent on each stream was received exactly once and in order (streams whose messages carry
  no key, such as Alpaca's quotes, by count);
- the venue's own end checks (for Binance spot: a local book per symbol, kept by Binance's procedure from
  a REST snapshot and the diffs, equals the venue's true book);
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
import websockets
from rich.console import Console
from rich.table import Table

from mock_venues import registry as venue_registry
from mock_venues.base.reference import ReferenceClient
from tickstorm.procs import ServiceProcess


@dataclass
class CheckResult:
    """The verdict of one recording set on one venue."""

    name: str
    speed: float
    venue: str = "binance-spot"
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


class _Rest:
    """The venue's REST base URL over one HTTP session (what a reference client's book checks call)."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.http.get(self.base + path, **kwargs)


async def _client(client: ReferenceClient, rest: _Rest | None) -> None:
    async with websockets.connect(client.url, max_size=2**22, additional_headers=client.headers) as ws:
        for frame in client.subscribe:
            await ws.send(frame)
        async for raw in ws:
            client.on_frame(raw if isinstance(raw, bytes) else raw.encode(), time.monotonic_ns())
            await client.after_frame(rest)


async def check_set(venue: str, name: str, speed: float, console: Console) -> CheckResult:
    """Replay one bundled recording set through a venue process and check the reference client's view."""
    result = CheckResult(name, speed, venue)
    started = time.monotonic()
    cls = venue_registry.venue_class(venue)
    cmd = [sys.executable, "-m", "tickstorm", "venue", venue, "--bundled", name]
    cmd += ["--speed", str(speed), "--paused"]
    async with ServiceProcess(cmd, name=f"venue[{venue} {name}]") as proc, aiohttp.ClientSession() as http:
        ready = proc.ready
        control = ready["control"]
        state = await (await http.get(f"{control}/state")).json()
        streams = await _streams_of(http, control)
        result.streams = len(streams)
        clients = cls.reference_clients(ready["ws"], streams)
        rest = _Rest(http, ready["rest"]) if ready.get("rest") else None
        tasks = [asyncio.create_task(_client(client, rest)) for client in clients]
        await _wait_subscribed(http, control, len(clients))
        await http.post(f"{control}/replay/start", json={})
        while not state.get("replay_done"):
            await asyncio.sleep(0.2)
            state = await (await http.get(f"{control}/state")).json()
        await asyncio.sleep(0.3)  # let the last frames arrive
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for client, outcome in zip(clients, outcomes, strict=True):
            if isinstance(outcome, Exception):
                result.problems.append(f"client of {client.url} failed: {type(outcome).__name__}: {outcome}")
        history = await (await http.get(f"{control}/history")).json()
        result.symbols = state["symbols"]
        _check_ids(history, clients, result, ids_increase=cls.ids_increase)

        async def true_book(symbol: str) -> dict[str, Any]:
            async with http.get(f"{control}/book/{symbol}", params={"limit": 100000}) as resp:
                book: dict[str, Any] = await resp.json()
            return book

        for client in clients:
            result.problems += await client.finish(rest, true_book)
        _lateness(history, result)
    result.received = sum(len(v) for c in clients for v in c.received.values())
    result.received += sum(sum(c.counted.values()) for c in clients)
    result.duration_s = time.monotonic() - started
    return result


async def _streams_of(http: aiohttp.ClientSession, control: str) -> list[str]:
    async with http.get(f"{control}/streams") as resp:
        streams: list[str] = await resp.json()
    return streams


async def _wait_subscribed(http: aiohttp.ClientSession, control: str, clients: int = 1) -> None:
    for _ in range(200):
        state = await (await http.get(f"{control}/state")).json()
        if len(state["connections"]) >= clients:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the {clients} check client(s) did not connect to the venue")


def _check_ids(
    history: dict[str, Any], clients: list[ReferenceClient], result: CheckResult, *, ids_increase: bool = True
) -> None:
    """Join what the clients received with what the venue sent: keyed streams id by id, in order; streams
    whose messages carry no key by count."""
    cols = history["columns"]
    names = history["streams"]
    sent: dict[str, list[int]] = {}
    for idx, vid in zip(cols["stream"], cols["venue_id"], strict=True):
        sent.setdefault(names[idx], []).append(vid)
    received: dict[str, list[int]] = {}
    counted: dict[str, int] = {}
    for client in clients:
        for stream, got_ids in client.received.items():
            received.setdefault(stream, []).extend(got_ids)
        for stream, count in client.counted.items():
            counted[stream] = counted.get(stream, 0) + count
    for stream, ids in sent.items():
        if stream in counted and stream not in received:
            if counted[stream] != len(ids):
                result.problems.append(f"{stream}: sent {len(ids)} messages, received {counted[stream]}")
            continue
        got = received.get(stream, [])
        if got != ids:
            missing = sorted(set(ids) - set(got))[:5]
            result.problems.append(
                f"{stream}: sent {len(ids)} ids, received {len(got)}"
                f" (first missing: {missing or 'order differs'})"
            )
        if ids_increase and any(b <= a for a, b in itertools.pairwise(ids)):
            result.problems.append(f"{stream}: venue ids not strictly increasing")
        elif len(set(ids)) != len(ids):
            result.problems.append(f"{stream}: venue ids repeated")


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
    table = Table(title="venue check: recordings replayed through the mock venues")
    for col in (
        "venue",
        "recording set",
        "speed",
        "verdict",
        "symbols",
        "streams",
        "received",
        "lateness p50/p99/max µs",
        "s",
    ):
        table.add_column(col, justify="right" if col not in ("venue", "recording set", "verdict") else "left")
    for r in results:
        table.add_row(
            r.venue,
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


async def run_checks(sets: list[tuple[str, str, float]], console: Console) -> list[CheckResult]:
    """Check every (venue, set, speed) one after the other (each replay is timed: no CPU sharing)."""
    results = []
    for venue, name, speed in sets:
        console.print(f"replaying [bold]{name}[/] through {venue} at x{speed:g} ...")
        results.append(await check_set(venue, name, speed, console))
    return results


def default_sets() -> list[tuple[str, str, float]]:
    """Every registered venue's check sets."""
    return [
        (venue, name, speed)
        for venue in venue_registry.names()
        for name, speed in venue_registry.venue_class(venue).check_sets
    ]


def register(subparsers: Any) -> None:
    """Add the `venue-check` subcommand."""
    parser = subparsers.add_parser(
        "venue-check",
        help="replay the bundled recordings through a venue process and check what a client receives",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--set", action="append", metavar="NAME", help="only this bundled set (repeatable)")
    parser.add_argument("--venue", action="append", metavar="NAME", help="only this venue (repeatable)")
    parser.add_argument("--speed", type=float, help="override every set's replay speed")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Run the checks; exit 1 when any check failed."""
    # Wide enough for the table when output goes to a CI log or a pipe (rich would assume 80 columns).
    console = Console(
        force_terminal=None if not os.environ.get("CI") else False, width=None if sys.stdout.isatty() else 132
    )
    known = default_sets()
    sets = [
        (v, n, args.speed or s)
        for v, n, s in known
        if (not args.set or n in args.set) and (not args.venue or v in args.venue)
    ]
    unknown = set(args.set or []) - {n for _, n, _ in known}
    unknown |= set(args.venue or []) - {v for v, _, _ in known}
    if unknown:
        console.print(f"[red]unknown set(s) or venue(s): {', '.join(sorted(unknown))}[/]")
        return 2
    results = asyncio.run(run_checks(sets, console))
    render(results, console)
    return 0 if all(r.ok for r in results) else 1
