"""Run a scenario: start the stack, play the fault timeline, heal, let the feed settle, run the checkers.

``run_scenario(scenario, seed)`` returns a :class:`ScenarioResult` with every verdict and the figures a
report needs; ``tickstorm run scenarios/... [--seed N]`` runs files from the command line, prints a
summary table, and on failure the one-line command that reruns the same seed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feed.dlq import DeadLetterQueue
from harness.checks.books import check_books
from harness.checks.delivery import Published, check_stream, delivered_streams
from harness.checks.measures import check_dlq, check_latency, check_recovery, check_venue_limits
from harness.checks.verdict import Verdict
from harness.scenario import Scenario, ScenarioError, load_scenario, scenario_files
from harness.stack import Stack
from mock_venues.history import SendFlag

SETTLE_QUIET_S = 0.5
SETTLE_MAX_S = 20.0
DEFAULT_SEED = 1


@dataclass
class FaultWindow:
    """A fault as it happened: when it started and (if healed) ended, monotonic ns."""

    name: str
    start_ns: int
    end_ns: int | None = None


@dataclass
class ScenarioResult:
    """Everything one run produced."""

    name: str
    path: str
    seed: int
    proxy_kind: str
    verdicts: list[Verdict] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    faults: list[FaultWindow] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Every verdict passed and nothing crashed."""
        return self.error is None and all(v.ok for v in self.verdicts)

    def rerun(self) -> str:
        """The command that reruns this scenario identically."""
        return f"tickstorm run {self.path} --seed {self.seed}"

    def failed(self) -> list[Verdict]:
        """The verdicts that failed."""
        return [v for v in self.verdicts if not v.ok]


async def run_scenario(scenario: Scenario, seed: int = DEFAULT_SEED) -> ScenarioResult:
    """Run one scenario end to end (in-process stack)."""
    with tempfile.TemporaryDirectory(prefix="tickstorm-") as tmp:
        stack = Stack(scenario, seed, Path(tmp))
        result = ScenarioResult(scenario.name, str(scenario.path or scenario.name), seed, "?")
        async with stack:
            result.proxy_kind = stack.endpoint.kind if stack.endpoint else "?"
            t0 = time.monotonic_ns()
            stack.venue.start_replay()
            result.faults = await _play(stack, scenario, seed, t0)
            healed_in_timeline = [w for w in result.faults if w.end_ns is not None]
            await stack.heal_everything()
            heal_ns = time.monotonic_ns()
            for window in result.faults:
                window.end_ns = window.end_ns or heal_ns
            await _settle(stack)
            result.verdicts = _check(stack, scenario, result.faults, healed_in_timeline, t0)
            result.figures = _figures(stack, t0)
        return result


async def _play(stack: Stack, scenario: Scenario, seed: int, t0: int) -> list[FaultWindow]:
    windows: list[FaultWindow] = []
    for step in scenario.jittered(seed):
        delay = t0 / 1e9 + step.at_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await step.action.run(stack)
        now = time.monotonic_ns()
        if step.action.fault:
            windows.append(FaultWindow(step.action.fault, now))
        if step.action.heals:
            for window in windows:
                if window.end_ns is None and window.name.startswith(step.action.heals.rstrip("*")):
                    window.end_ns = now
    remaining = t0 / 1e9 + scenario.duration_s - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)
    return windows


async def _settle(stack: Stack) -> None:
    """Stop the venue's sender, then wait until the feed is quiet and every book is in sync again."""
    stack.venue.stall(SETTLE_MAX_S + 5)
    deadline = time.monotonic() + SETTLE_MAX_S
    last = -1
    while time.monotonic() < deadline:
        books_ok = all(b.sync.synced for b in stack.feed.core.books.values())
        backfilling = any(
            s.sequencer is not None and s.sequencer.waiting for s in stack.feed.core.streams.values()
        )
        if len(stack.events) == last and books_ok and not backfilling:
            return
        last = len(stack.events)
        await asyncio.sleep(SETTLE_QUIET_S)


def _check(
    stack: Stack, scenario: Scenario, faults: list[FaultWindow], healed: list[FaultWindow], t0: int
) -> list[Verdict]:
    venue, feed = stack.venue, stack.feed
    verdicts: list[Verdict] = []
    delivered = delivered_streams(stack.events)
    timeline = venue.timeline
    for name in feed.settings.stream_names():
        replay_stream = venue.replay_stream_for(name)
        published = Published()
        if replay_stream is not None:
            for row in timeline.rows(stream=replay_stream):
                published.ids.append(row.venue_id)
                published.intended_ns.append(row.intended_ns)
        verdicts += check_stream(name, published, delivered.get(name) or _empty(), t0_ns=t0, faults=faults)
    books = {}
    for symbol in feed.core.books:
        book = feed.book(symbol)
        body = None
        if book is not None:
            bids, asks = book.top()
            body = {"lastUpdateId": book.last_update_id, "bids": bids, "asks": asks}
        books[symbol] = (venue.true_book(symbol, limit=1_000_000), body, feed.book_band(symbol))
    if books:
        verdicts.append(check_books(books))
    verdicts.append(check_venue_limits(venue.history.events))
    if scenario.expect_dlq or feed.core.rejected:
        corrupted: dict[str, int] = {}
        for row in venue.history.rows():
            if row.flag == SendFlag.CORRUPTED:
                name = row.stream
                corrupted[name] = corrupted.get(name, 0) + 1
        assert feed.dlq is not None
        feed.dlq.flush()
        with DeadLetterQueue(stack.workdir / "dlq.sqlite") as dlq:
            letters = [(e.stream, e.raw) for e in dlq.entries()]
        verdicts.append(check_dlq(corrupted, letters))
    if scenario.sla.latency_p99_ms is not None:
        verdicts.append(check_latency(_latencies(stack), p99_ms=scenario.sla.latency_p99_ms))
    if scenario.sla.recovery_s is not None:
        # Recovery is timed for faults the timeline heals while the replay still runs.
        for window in healed:
            assert window.end_ns is not None
            resumed = next(
                (
                    e.deliver_ns
                    for e in stack.events
                    if e.is_market and not e.backfilled and e.recv_ns > window.end_ns
                ),
                None,
            )
            verdicts.append(
                check_recovery(
                    window.end_ns, resumed, bound_s=scenario.sla.recovery_s, what=f"data after {window.name}"
                )
            )
    return verdicts


def _empty() -> Any:
    from harness.checks.delivery import Delivered

    return Delivered()


def _latencies(stack: Stack) -> list[int]:
    """Delivery minus the venue's intended send time, for every live (not backfilled) market event."""
    intended: dict[tuple[str, int], int] = {}
    timeline = stack.venue.timeline
    for row in timeline.rows():
        intended.setdefault((row.stream, row.venue_id), row.intended_ns)
    out = []
    for event in stack.events:
        if event.is_market and not event.backfilled and event.id is not None:
            replay = stack.venue.replay_stream_for(event.stream)
            sent = intended.get((replay or event.stream, event.id))
            if sent is not None:
                out.append(event.deliver_ns - sent)
    return out


def _figures(stack: Stack, t0: int) -> dict[str, Any]:
    stats = stack.feed.stats()
    lat = sorted(_latencies(stack))
    return {
        "delivered": stats["delivered"],
        "gaps_lost_ids": stats["lost_ids"],
        "duplicates_dropped": stats["duplicates_dropped"],
        "resyncs": stats["resyncs"],
        "connects": stats["connects"],
        "rest_requests": stats["rest_requests"],
        "latency_p50_ms": round(lat[len(lat) // 2] / 1e6, 3) if lat else None,
        "latency_p99_ms": round(lat[int(len(lat) * 0.99)] / 1e6, 3) if lat else None,
        "backfilled": sum(1 for e in stack.events if e.backfilled),
        "run_s": round((time.monotonic_ns() - t0) / 1e9, 2),
    }


# -- command line ------------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add ``tickstorm run``."""
    run = subparsers.add_parser(
        "run",
        help="run chaos scenarios (files or directories) and check what must hold",
        description="Run scenario files against the in-process stack (venue -> fault proxy -> feed).",
    )
    run.add_argument("paths", nargs="+", type=Path, help="scenario files or directories of them")
    run.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed for fault timing and randomness")
    run.add_argument("--speed", type=float, help="override every scenario's replay speed")
    run.add_argument("--json", type=Path, help="write the results as JSON here")
    run.add_argument("--junit", type=Path, help="write a JUnit XML report here (one test case per scenario)")
    run.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Entry point of ``tickstorm run``."""
    from rich.console import Console
    from rich.markup import escape

    from harness.service import run_async

    plain = bool(os.environ.get("CI"))  # CI: no live display, plain logs
    console = Console(width=None if sys.stdout.isatty() else 132, force_terminal=False if plain else None)
    try:
        scenarios = [load_scenario(p) for p in scenario_files(args.paths)]
        if args.speed is not None:
            for scenario in scenarios:
                scenario.speed = args.speed
                scenario.validate()
    except ScenarioError as exc:
        print(f"tickstorm run: {exc}", file=sys.stderr)
        return 2
    if not scenarios:
        print("tickstorm run: no scenario files found", file=sys.stderr)
        return 2
    results: list[ScenarioResult] = []
    live = console.is_terminal and not plain
    for index, scenario in enumerate(scenarios, 1):
        console.print(
            f"[bold]{index}/{len(scenarios)} {escape(scenario.name)}[/bold]: {escape(scenario.description)}"
        )
        try:
            if live:
                with console.status(
                    f"running {scenario.name} ({scenario.duration_s:g} s of replay, then checks)"
                ):
                    result = run_async(run_scenario(scenario, args.seed))
            else:
                result = run_async(run_scenario(scenario, args.seed))
        except Exception as exc:  # report and go on: one broken run must not hide the others
            result = ScenarioResult(
                scenario.name, str(scenario.path), args.seed, "?", error=f"{type(exc).__name__}: {exc}"
            )
        results.append(result)
        verdict_text = "[green]PASS[/green]" if result.ok else "[red]FAIL[/red]"
        console.print(f"  {verdict_text} in {result.figures.get('run_s', '?')} s")
        for verdict in result.failed():
            detail = escape(f"{verdict.check}: {verdict.summary} {verdict.evidence}")
            console.print(f"  [red]FAIL[/red] {detail}")
        if result.error:
            console.print(f"  [red]ERROR[/red] {escape(result.error)}")
    _summary(console, results)
    if args.json:
        import orjson

        args.json.write_bytes(orjson.dumps([_as_json(r) for r in results], option=orjson.OPT_INDENT_2))
    if args.junit:
        args.junit.parent.mkdir(parents=True, exist_ok=True)
        args.junit.write_bytes(junit_xml(results))
    failed = [r for r in results if not r.ok]
    for result in failed:
        console.print(f"rerun: {result.rerun()}")
    return 1 if failed else 0


def _summary(console: Any, results: list[ScenarioResult]) -> None:
    from rich.table import Table

    table = Table(title="tickstorm chaos scenarios")
    for column in (
        "scenario",
        "verdict",
        "checks",
        "delivered",
        "lost ids (gaps)",
        "resyncs",
        "p99 ms",
        "proxy",
    ):
        table.add_column(column)
    for r in results:
        f = r.figures
        table.add_row(
            r.name,
            "[green]PASS[/green]" if r.ok else "[red]FAIL[/red]",
            f"{sum(v.ok for v in r.verdicts)}/{len(r.verdicts)}",
            str(f.get("delivered", "-")),
            str(f.get("gaps_lost_ids", "-")),
            str(f.get("resyncs", "-")),
            str(f.get("latency_p99_ms", "-")),
            r.proxy_kind,
        )
    console.print(table)


def junit_xml(results: list[ScenarioResult]) -> bytes:
    """JUnit XML: one test case per scenario, failures carrying the failed checks and the rerun command."""
    from xml.etree import ElementTree as ET

    suite = ET.Element(
        "testsuite",
        name="tickstorm-chaos",
        tests=str(len(results)),
        failures=str(sum(1 for r in results if not r.ok and r.error is None)),
        errors=str(sum(1 for r in results if r.error is not None)),
    )
    for r in results:
        case = ET.SubElement(
            suite, "testcase", classname="scenarios", name=r.name, time=str(r.figures.get("run_s", 0))
        )
        if r.error is not None:
            ET.SubElement(case, "error", message=r.error).text = r.rerun()
        elif not r.ok:
            lines = [f"{v.check}: {v.summary} {v.evidence}" for v in r.failed()]
            ET.SubElement(case, "failure", message=f"{len(lines)} checks failed").text = "\n".join(
                [*lines, r.rerun()]
            )
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def _as_json(result: ScenarioResult) -> dict[str, Any]:
    return {
        "scenario": result.name,
        "path": result.path,
        "seed": result.seed,
        "ok": result.ok,
        "proxy": result.proxy_kind,
        "error": result.error,
        "figures": result.figures,
        "faults": [vars(f) for f in result.faults],
        "verdicts": [v.to_dict() for v in result.verdicts],
        "rerun": result.rerun(),
    }
