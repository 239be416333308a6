"""``tickstorm report`` (render a finished run again, optionally compared with a baseline) and
``tickstorm baseline`` (run the SLA suite and the feed benchmark, and write reports/baselines/NAME.json)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import orjson


def register(subparsers: Any) -> None:
    """Add the ``report`` and ``baseline`` subcommands."""
    report = subparsers.add_parser(
        "report",
        help="render a finished run again (console, HTML), optionally compared with a baseline",
        description=(
            "Render RUN_DIR/report.json again: console summary, comparison with a baseline, and with --html "
            "an HTML page. A load run (RUN_DIR/load-report.json from tickstorm load) is rendered as its knee "
            "report. The run's own files are left as they are."
        ),
    )
    report.add_argument(
        "run_dir",
        type=Path,
        help="a run directory (runs/<time>-seed<N>, runs/load-<time>) or a report.json / load-report.json",
    )
    report.add_argument(
        "--html",
        type=Path,
        help="also write this rendering as HTML to this file (default: none; the run's own report.html is "
        "never rewritten unless this names it)",
    )
    report.add_argument("--compare", type=Path, help="a baseline file (reports/baselines/NAME.json)")
    report.set_defaults(func=report_command)

    baseline = subparsers.add_parser(
        "baseline",
        help="run the SLA suite and the feed benchmark; write reports/baselines/NAME.json",
        description=(
            "Measure the latency ceiling, run the scenarios (multi-process) and the feed throughput "
            "benchmark, and write the published figures with the machine facts."
        ),
    )
    baseline.add_argument("--name", default="sla", help="baseline name (file reports/baselines/NAME.json)")
    baseline.add_argument("paths", nargs="*", type=Path, default=[Path("scenarios")], help="scenario files")
    baseline.add_argument("--seed", type=int, default=1, help="seed for the scenarios")
    baseline.add_argument("--dir", type=Path, default=Path("reports/baselines"), help="where baselines go")
    baseline.add_argument("--out", type=Path, default=Path("runs"), help="where the run's reports go")
    baseline.add_argument("--no-bench", action="store_true", help="skip the feed throughput benchmark")
    baseline.set_defaults(func=baseline_command)


def _load_run(path: Path) -> Path | None:
    """The load-report.json a path names, if it names a load run."""
    if path.is_file() and path.name == "load-report.json":
        return path
    if path.is_dir() and not (path / "report.json").is_file() and (path / "load-report.json").is_file():
        return path / "load-report.json"
    return None


def load_report_command(path: Path, html: Path | None) -> int:
    """Render a load run's HTML knee report; exit 1 when a step was beyond SLA or the join failed."""
    from reports.load_html import load_run_ok, render_load_html

    try:
        report = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        print(f"tickstorm report: {path}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(report, dict) or report.get("kind") != "tickstorm-load-report":
        print(f"tickstorm report: {path} is not a tickstorm load report", file=sys.stderr)
        return 2
    if html is not None and not _write_html(html, render_load_html(report)):
        return 2
    for step in report.get("steps") or []:
        verdict = "within SLA" if step.get("ok") else "; ".join(step.get("reasons") or [])
        print(
            f"x{step['speed']:g} {step['subscribers']} subscribers: p99 {step['feed_p99_ms']} ms, {verdict}"
        )
    print(f"knee: {report.get('knee')}")
    print(_html_note(html, path.with_suffix(".html")))
    return 0 if load_run_ok(report) else 1


def _write_html(path: Path, html: str) -> bool:
    """Write the page; False (after a one-line error) when the file cannot be written."""
    try:
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        print(f"tickstorm report: --html {path}: {exc.strerror or exc}", file=sys.stderr)
        return False
    return True


def _html_note(written: Path | None, own: Path) -> str:
    """Where the HTML is: the file just written, or the run's own page (left unchanged)."""
    if written is not None:
        return f"HTML report: {written}"
    if own.is_file():
        return f"HTML report: {own} (the run's own, unchanged; --html OUT writes this rendering)"
    return "no HTML report written (--html OUT writes one)"


def report_command(args: argparse.Namespace) -> int:
    """Entry point of ``tickstorm report``."""
    load_run = _load_run(args.run_dir)
    if load_run is not None:
        return load_report_command(load_run, args.html)

    from reports.compare import compare, published_figures
    from reports.console import make_console, print_report
    from reports.files import load_baseline, load_report
    from reports.html import render_html

    try:
        report = load_report(args.run_dir)
        if args.compare:
            report["comparison"] = compare(published_figures(report), load_baseline(args.compare))
    except ValueError as exc:
        print(f"tickstorm report: {exc}", file=sys.stderr)
        return 2
    print_report(make_console(), report)
    if args.html is not None and not _write_html(args.html, render_html(report)):
        return 2
    run_dir = args.run_dir if args.run_dir.is_dir() else args.run_dir.parent
    print(_html_note(args.html, run_dir / "report.html"))
    regressed = any(row["regressed"] for row in (report.get("comparison") or {}).get("rows", []))
    return 1 if regressed or not report.get("ok") else 0


def baseline_command(args: argparse.Namespace) -> int:
    """Entry point of ``tickstorm baseline``."""

    from harness.ceiling import latency_ceiling
    from harness.runner import ScenarioResult, run_scenario
    from harness.scenario import ScenarioError, load_scenario, scenario_files
    from harness.sla import DEFAULT_SLA_PATH, load_sla
    from reports.compare import BASELINE_FORMAT, published_figures
    from reports.console import make_console, print_report
    from reports.files import write_run
    from reports.junit import junit_xml
    from tickstorm import interrupts
    from tickstorm.machine import machine_facts
    from tickstorm.service import run_async

    console = make_console()
    try:
        scenarios = [load_scenario(p) for p in scenario_files(args.paths)]
    except ScenarioError as exc:
        print(f"tickstorm baseline: {exc}", file=sys.stderr)
        return 2
    sla = load_sla()
    ceiling = None
    results: list[ScenarioResult] = []
    bench = None
    interrupted = None
    try:
        ceiling = run_async(latency_ceiling())
        console.print(f"latency ceiling: {ceiling['latency']}")
        for scenario in scenarios:
            console.print(f"running {scenario.name}")
            results.append(
                run_async(run_scenario(scenario, args.seed, mode="processes", sla=sla, judge_latency=True))
            )
        if not args.no_bench:
            from harness import throughput

            console.print("running the feed throughput benchmark")
            bench = throughput.run(quick=False)
    except KeyboardInterrupt:
        interrupted = interrupts.stopped_by()
    not_run = [
        ScenarioResult(s.name, str(s.path or s.name), args.seed, "?", "processes", scenario=s)
        for s in scenarios[len(results) :]
    ]
    run_dir, report = write_run(
        results,
        out=args.out,
        seed=args.seed,
        mode="processes",
        sla_file=str(DEFAULT_SLA_PATH.relative_to(DEFAULT_SLA_PATH.parent.parent)),
        ceiling=ceiling,
        baseline=None,
        junit=junit_xml(results, not_run, interrupted),
        not_run=not_run,
        interrupted=interrupted,
    )
    print_report(console, report)
    if interrupted:  # an incomplete run is no baseline
        console.print(
            f"[yellow]interrupted[/yellow] ({interrupted}): no baseline written (run reports in {run_dir})"
        )
        return interrupts.exit_code()
    doc = {
        "format": BASELINE_FORMAT,
        "name": args.name,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "seed": args.seed,
        "mode": "processes",
        "proxy": report["proxy"],
        "verdict": report["verdict"],
        "ok": report["ok"],
        "ceiling": ceiling,
        "bench_feed": bench,
        "figures": published_figures(report, bench),
        "scenarios": [
            {"name": s["name"], "ok": s["ok"], "figures": s["figures"]} for s in report["scenarios"]
        ],
    }
    args.dir.mkdir(parents=True, exist_ok=True)
    out = args.dir / f"{args.name}.json"
    out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    console.print(f"baseline written: {out} (run reports in {run_dir})")
    return 0 if report["ok"] else 1
