"""``tickstorm run``: run chaos scenario files (the harness) and render their reports (console, JSON,
HTML, JUnit); on failure it prints the one-line command that reruns the same seed.

Ctrl-C or SIGTERM stops the run: the running scenario's processes and temporary folder are torn down,
the report is written with the verdict INCOMPLETE and the scenarios not run, and the exit code is 130
(SIGINT) or 143 (SIGTERM)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from harness.runner import DEFAULT_SEED, ScenarioResult, run_scenario, stack_mode
from harness.scenario import Scenario, ScenarioError, load_scenario, scenario_files
from harness.sla import SLAConfig, SLAConfigError, load_sla
from reports.junit import junit_xml
from tickstorm import interrupts


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
    results: list[ScenarioResult] = []
    live = console.is_terminal and not plain
    interrupted = None
    try:
        if not args.no_ceiling:
            ceiling = _measure_ceiling(console)
        for index, scenario in enumerate(scenarios, 1):
            console.print(
                f"[bold]{index}/{len(scenarios)} {escape(scenario.name)}[/bold]: "
                f"{escape(scenario.description)}"
            )
            results.append(_run_one(console, scenario, args, sla, live))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the stack has been torn down by the time this arrives
        interrupted = interrupts.stopped_by()
        console.print(
            f"[yellow]interrupted[/yellow] ({interrupted}) after {len(results)} of {len(scenarios)} scenarios"
        )
    not_run = [_not_run(scenario, args) for scenario in scenarios[len(results) :]]
    junit = junit_xml(results, not_run, interrupted)
    run_dir, report = write_run(
        results,
        out=args.out,
        seed=args.seed,
        mode=args.mode,
        sla_file=str(args.sla or "harness/sla.toml"),
        ceiling=ceiling,
        baseline=baseline,
        junit=junit,
        not_run=not_run,
        interrupted=interrupted,
    )
    from reports.console import print_report

    print_report(console, report)
    if args.json:
        args.json.write_bytes((run_dir / "report.json").read_bytes())
    if args.junit:
        args.junit.parent.mkdir(parents=True, exist_ok=True)
        args.junit.write_bytes(junit)
    console.print(f"reports: {run_dir}/report.json, {run_dir}/report.html, {run_dir}/junit.xml")
    if interrupted:
        return interrupts.exit_code()
    regressed = any(row["regressed"] for row in (report.get("comparison") or {}).get("rows", []))
    return 1 if regressed or not report["ok"] else 0


def _measure_ceiling(console: Any) -> dict[str, Any]:
    """The bare-client latency ceiling of this machine, printed."""
    from harness.ceiling import latency_ceiling
    from tickstorm.service import run_async

    ceiling: dict[str, Any] = run_async(latency_ceiling())
    figures = ceiling["latency"]
    console.print(
        f"latency ceiling (bare client, no proxy, no feed): p50 {figures['p50_ms']} ms, "
        f"p99 {figures['p99_ms']} ms"
    )
    return ceiling


def _not_run(scenario: Scenario, args: argparse.Namespace) -> ScenarioResult:
    """A scenario the run did not finish, as a result without a run (its name, path and rerun command)."""
    return ScenarioResult(
        scenario.name,
        str(scenario.path or scenario.name),
        args.seed,
        "?",
        stack_mode(scenario, args.mode),
        scenario=scenario,
    )


def _run_one(
    console: Any, scenario: Scenario, args: argparse.Namespace, sla: SLAConfig, live: bool
) -> ScenarioResult:
    """Run one scenario with a live status line (or plain output) and print its verdict."""
    from rich.markup import escape

    from tickstorm.service import run_async

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
            scenario=scenario,
        )
    verdict_text = "[green]PASS[/green]" if result.ok else "[red]FAIL[/red]"
    console.print(f"  {verdict_text} in {result.figures.get('run_s', '?')} s ({result.mode})")
    for verdict in result.failed():
        console.print(f"  [red]FAIL[/red] {escape(f'{verdict.check}: {verdict.summary} {verdict.evidence}')}")
    if result.error:
        console.print(f"  [red]ERROR[/red] {escape(result.error)}")
    return result
