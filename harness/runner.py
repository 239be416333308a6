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

from harness.checks.verdict import Verdict
from harness.evaluate import evaluate, figures
from harness.measure import measure
from harness.process_stack import ProcessStack
from harness.rundata import FaultWindow, RunData
from harness.scenario import Scenario, ScenarioError, load_scenario, scenario_files
from harness.sla import SLAConfig, SLAConfigError, load_sla
from harness.stack import Stack, StackBase

DEFAULT_SEED = 1
MODES = ("auto", "processes", "in-process")


@dataclass
class ScenarioResult:
    """Everything one run produced."""

    name: str
    path: str
    seed: int
    proxy_kind: str
    mode: str = "?"
    verdicts: list[Verdict] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    faults: list[FaultWindow] = field(default_factory=list)
    error: str | None = None
    measurements: dict[str, Any] = field(default_factory=dict)  # see harness.measure
    scenario: Scenario | None = None
    run: RunData | None = None  # the gathered histories (only with run_scenario(keep_run=True))

    @property
    def ok(self) -> bool:
        """Every verdict passed and nothing crashed."""
        return self.error is None and all(v.ok for v in self.verdicts)

    def rerun(self) -> str:
        """The command that reruns this scenario identically."""
        mode = " --mode in-process" if self.mode == "in-process" else ""
        return f"tickstorm run {self.path} --seed {self.seed}{mode}"

    def failed(self) -> list[Verdict]:
        """The verdicts that failed."""
        return [v for v in self.verdicts if not v.ok]


def stack_mode(scenario: Scenario, mode: str) -> str:
    """The stack a scenario runs on: ``auto`` is in-process unless a step needs the feed's own process."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
    if scenario.needs_processes:
        return "processes"
    return "in-process" if mode == "auto" else mode


async def run_scenario(
    scenario: Scenario,
    seed: int = DEFAULT_SEED,
    *,
    mode: str = "auto",
    sla: SLAConfig | None = None,
    stack_type: type[StackBase] | None = None,
    keep_run: bool = False,
    judge_latency: bool = False,
) -> ScenarioResult:
    """Run one scenario end to end: start the stack, play the timeline, heal, settle, check.

    ``stack_type`` replaces the stack the mode picks (tests use it to run a deliberately broken one);
    ``keep_run`` keeps the gathered histories on the result (``result.run``); ``judge_latency`` adds the
    latency SLA verdicts (the command line does; test suites measure latency but do not judge it).
    """
    sla = sla or load_sla()
    chosen = stack_mode(scenario, mode)
    with tempfile.TemporaryDirectory(prefix="tickstorm-") as tmp:
        stack_type = stack_type or (ProcessStack if chosen == "processes" else Stack)
        stack = stack_type(scenario, seed, Path(tmp))
        result = ScenarioResult(scenario.name, str(scenario.path or scenario.name), seed, "?", chosen)
        result.scenario = scenario
        async with stack:
            result.proxy_kind = stack.endpoint.kind if stack.endpoint else "?"
            t0 = time.monotonic_ns()
            await stack.start_replay()
            result.faults = await _play(stack, scenario, seed, t0)
            healed_in_timeline = [w for w in result.faults if w.end_ns is not None]
            await stack.heal_everything()
            heal_ns = time.monotonic_ns()
            for window in result.faults:
                window.end_ns = window.end_ns or heal_ns
            await stack.settle()
            run = await stack.gather(t0)
            result.verdicts = evaluate(
                run, scenario, sla, result.faults, healed_in_timeline, judge_latency=judge_latency
            )
            result.figures = figures(run, (time.monotonic_ns() - t0) / 1e9, warmup_s=sla.memory.warmup_s)
            result.measurements = measure(
                run,
                result.faults,
                interval_s=0.5 if scenario.duration_s <= 20 else 1.0,
                rss_by_process=run.rss_by_process or None,
            )
            if keep_run:
                result.run = run
        return result


async def _play(stack: StackBase, scenario: Scenario, seed: int, t0: int) -> list[FaultWindow]:
    windows: list[FaultWindow] = []
    for step in scenario.jittered(seed):
        delay = t0 / 1e9 + step.at_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        began = time.monotonic_ns()  # a fault may act before its API call returns: its window opens here
        await step.action.run(stack)
        now = time.monotonic_ns()  # ...and a heal is certain only once its call returned
        if step.action.fault:
            windows.append(FaultWindow(step.action.fault, began))
        if step.action.heals:
            for window in windows:
                if window.end_ns is None and window.name.startswith(step.action.heals.rstrip("*")):
                    window.end_ns = now
    remaining = t0 / 1e9 + scenario.duration_s - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)
    return windows


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
    run.add_argument(
        "--mode",
        choices=["processes", "in-process"],
        default="processes",
        help="venue, proxy and feed as separate processes (default), or all in this process (faster; "
        "scenarios with process faults or memory checks always use processes)",
    )
    run.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace the feed's allocations (slower); soaks then name the top allocation growth in evidence",
    )
    run.add_argument("--sla", type=Path, help="SLA config file (default: the packaged harness/sla.toml)")
    run.add_argument("--json", type=Path, help="also copy report.json here")
    run.add_argument(
        "--out", type=Path, default=Path("runs"), help="reports go to OUT/<time>-seed<N>/ (default: runs)"
    )
    run.add_argument("--compare", type=Path, help="compare with a baseline (reports/baselines/NAME.json)")
    run.add_argument(
        "--no-ceiling",
        action="store_true",
        help="skip measuring the bare-client latency ceiling first (ratios to it are then not reported)",
    )
    run.add_argument("--junit", type=Path, help="write a JUnit XML report here (one test case per scenario)")
    run.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Entry point of ``tickstorm run``."""
    from rich.markup import escape

    from reports.console import make_console
    from reports.files import load_baseline, write_run

    plain = bool(os.environ.get("CI"))  # CI: no live display, plain logs
    console = make_console(plain=plain)
    try:
        scenarios = [load_scenario(p) for p in scenario_files(args.paths)]
        for scenario in scenarios:
            if args.speed is not None:
                scenario.speed = args.speed
                scenario.validate()
            if args.tracemalloc:
                scenario.feed = {**scenario.feed, "debug_tracemalloc": True}
        sla = load_sla(args.sla)
        baseline = load_baseline(args.compare) if args.compare else None
    except (ScenarioError, SLAConfigError, ValueError) as exc:
        print(f"tickstorm run: {exc}", file=sys.stderr)
        return 2
    if not scenarios:
        print("tickstorm run: no scenario files found", file=sys.stderr)
        return 2
    ceiling = None
    if not args.no_ceiling:
        from harness.ceiling import latency_ceiling
        from harness.service import run_async

        ceiling = run_async(latency_ceiling())
        figures = ceiling["latency"]
        console.print(
            f"latency ceiling (bare client, no proxy, no feed): p50 {figures['p50_ms']} ms, "
            f"p99 {figures['p99_ms']} ms"
        )
    results: list[ScenarioResult] = []
    live = console.is_terminal and not plain
    interrupted = False
    try:
        for index, scenario in enumerate(scenarios, 1):
            console.print(
                f"[bold]{index}/{len(scenarios)} {escape(scenario.name)}[/bold]: "
                f"{escape(scenario.description)}"
            )
            results.append(_run_one(console, scenario, args, sla, live))
    except KeyboardInterrupt:  # the stack has been torn down by the time this arrives here
        interrupted = True
        console.print(f"[yellow]interrupted[/yellow] after {len(results)} of {len(scenarios)} scenarios")
    run_dir, report = write_run(
        results,
        out=args.out,
        seed=args.seed,
        mode=args.mode,
        sla_file=str(args.sla or "harness/sla.toml"),
        ceiling=ceiling,
        baseline=baseline,
        junit=junit_xml(results),
    )
    from reports.console import print_report

    print_report(console, report)
    if args.json:
        args.json.write_bytes((run_dir / "report.json").read_bytes())
    if args.junit:
        args.junit.parent.mkdir(parents=True, exist_ok=True)
        args.junit.write_bytes(junit_xml(results))
    console.print(f"reports: {run_dir}/report.json, {run_dir}/report.html, {run_dir}/junit.xml")
    if interrupted:
        return 130
    regressed = any(row["regressed"] for row in (report.get("comparison") or {}).get("rows", []))
    return 1 if regressed or not report["ok"] else 0


def _run_one(
    console: Any, scenario: Scenario, args: argparse.Namespace, sla: SLAConfig, live: bool
) -> ScenarioResult:
    """Run one scenario with a live status line (or plain output) and print its verdict."""
    from rich.markup import escape

    from harness.service import run_async

    run = run_scenario(scenario, args.seed, mode=args.mode, sla=sla, judge_latency=True)
    try:
        if live:
            status = f"running {scenario.name} ({scenario.duration_s:g} s of replay, then checks)"
            with console.status(status):
                result = run_async(run)
        else:
            result = run_async(run)
    except Exception as exc:  # report and go on: one broken run must not hide the others
        result = ScenarioResult(
            scenario.name,
            str(scenario.path),
            args.seed,
            "?",
            stack_mode(scenario, args.mode),
            error=f"{type(exc).__name__}: {exc}",
        )
    verdict_text = "[green]PASS[/green]" if result.ok else "[red]FAIL[/red]"
    console.print(f"  {verdict_text} in {result.figures.get('run_s', '?')} s ({result.mode})")
    for verdict in result.failed():
        console.print(f"  [red]FAIL[/red] {escape(f'{verdict.check}: {verdict.summary} {verdict.evidence}')}")
    if result.error:
        console.print(f"  [red]ERROR[/red] {escape(result.error)}")
    return result


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
