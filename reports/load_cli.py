"""``tickstorm load`` and ``tickstorm load-baseline``: find the feed's knee with Locust (the harness runs
venue, feed and Locust as processes, bounded in time) and render each run's knee report (JSON and HTML).

Also runnable as ``python -m reports.load_cli ...`` (same flags as ``tickstorm load``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.load.shape import parse_plan

DEFAULT_PLAN = "1x50,1x100,1x200,1x400,2x400,5x400,10x400,20x400,50x400"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plan",
        default=DEFAULT_PLAN,
        help=f"steps SPEEDxSUBSCRIBERS, comma-separated, run until the knee (default {DEFAULT_PLAN})",
    )
    parser.add_argument("--step-s", type=float, default=20.0, help="measured seconds per step (default 20)")
    parser.add_argument("--warmup-s", type=float, default=5.0, help="unmeasured seconds per step (default 5)")
    parser.add_argument(
        "--processes", type=int, default=0, help="Locust worker processes on this machine (0: one process)"
    )
    parser.add_argument(
        "--run-time", type=float, default=600.0, help="hard bound on Locust's run time, seconds (default 600)"
    )
    parser.add_argument(
        "--channels", default="book,trade", help="channels per subscriber (default book,trade)"
    )
    parser.add_argument(
        "--venue",
        default="binance-spot",
        help="registered venue the mock venue and the feed run (default binance-spot)",
    )
    parser.add_argument(
        "--symbols", default="btcusdt", help="comma-separated symbols the feed ingests (default btcusdt)"
    )
    parser.add_argument(
        "--recording", help="bundled recording set the venue replays (default: the venue's own; spot-btcusdt)"
    )
    parser.add_argument("--run-dir", type=Path, help="output folder (default runs/load-<timestamp>)")
    parser.add_argument(
        "--no-history",
        action="store_true",
        help="no per-subscriber histories and no join (cheaper at high speed)",
    )
    parser.add_argument("--slow-subscribers", type=int, default=0, help="subscribers reading once per second")
    parser.add_argument("--churn", action="store_true", help="subscribers also unsubscribe/resubscribe")
    parser.add_argument(
        "--allow-drops", action="store_true", help="subscriber drops alone do not mark the knee"
    )
    parser.add_argument(
        "--task-interval-s", type=float, default=10.0, help="seconds between HTTP/churn tasks"
    )
    parser.add_argument("--sla", type=Path, help="SLA TOML file (default harness/sla.toml)")
    parser.add_argument(
        "--slow-policy", choices=("drop_oldest", "disconnect"), help="the feed's slow-consumer policy"
    )
    parser.add_argument("--queue-capacity", type=int, help="the feed's per-consumer queue capacity")


def register(subparsers: Any) -> None:
    """Add ``tickstorm load``."""
    parser = subparsers.add_parser(
        "load",
        help="load test the feed's downstream side with Locust and find its knee",
        description=(
            "Start the mock venue and the feed (with its downstream server) as processes, run Locust "
            "headless with the knee shape (subscribers and replay speed ramp step by step until the feed's "
            "p99 breaks the SLA), and write runs/<id>/load-report.json and load-report.html (knee chart). "
            "docs/load.md explains the figures."
        ),
    )
    _add_arguments(parser)
    parser.set_defaults(func=run_command)
    baseline = subparsers.add_parser(
        "load-baseline",
        help="run the load campaign (acceptance at 500 subscribers, knees) and write its baseline",
        description=(
            "Run the fixed load campaign (harness/load/baseline.py) one run after the other and write the "
            "measured steps, knees and the acceptance verdict to reports/baselines/load-knee.json. Exit 1 "
            "when the acceptance run (500 subscribers at recorded speed) is not within SLA or lost events."
        ),
    )
    baseline.add_argument(
        "--out",
        type=Path,
        default=Path("reports/baselines/load-knee.json"),
        help="baseline file (default reports/baselines/load-knee.json)",
    )
    baseline.add_argument("--runs", help="only these campaign runs (comma-separated names)")
    baseline.add_argument(
        "--run-dir", type=Path, help="folder of the runs' outputs (default runs/load-baseline-<timestamp>)"
    )
    baseline.set_defaults(func=baseline_command)


def baseline_command(args: argparse.Namespace) -> int:
    """Entry point of ``tickstorm load-baseline``."""
    from harness.load.baseline import campaign_runs, run_entry, write_baseline
    from harness.load.driver import LoadOptions, run_load
    from harness.load.report import machine
    from tickstorm.service import run_async

    try:
        runs = campaign_runs(args.runs)
    except ValueError as exc:
        print(f"tickstorm load-baseline: {exc}", file=sys.stderr)
        return 2
    root = args.run_dir or Path("runs") / time.strftime("load-baseline-%Y%m%d-%H%M%S")
    entries: dict[str, Any] = {}
    for run in runs:
        run_dir = root / run.name
        opts = LoadOptions(
            run_dir=run_dir,
            plan=run.plan,
            step_s=run.step_s,
            processes=run.processes,
            history=run.history,
            run_time_s=90.0 + 45.0 * len(parse_plan(run.plan)),
        )
        report = run_async(run_load(opts), use_uvloop=False)
        write_load_html(report, run_dir)
        _print_summary(report, run_dir)
        entries[run.name] = run_entry(run, report)
    baseline = write_baseline(args.out, entries, machine())
    from rich.console import Console

    console = Console(width=160)
    for key, value in baseline["summary"].items():
        console.print(f"[bold]{key}[/bold]: {value}")
    console.print(f"baseline: {args.out}")
    accepted = baseline["summary"].get("acceptance_x1_500")
    return 1 if accepted is not None and not accepted["ok"] else 0


def run_command(args: argparse.Namespace) -> int:
    """Entry point of ``tickstorm load``."""
    from harness.load.driver import LoadOptions, run_load
    from tickstorm.service import run_async

    try:
        parse_plan(args.plan)
    except ValueError as exc:
        print(f"tickstorm load: {exc}", file=sys.stderr)
        return 2
    run_dir = args.run_dir or Path("runs") / time.strftime("load-%Y%m%d-%H%M%S")
    feed_env = {}
    if args.slow_policy:
        feed_env["TICKSTORM_FEED_SERVE_SLOW_POLICY"] = args.slow_policy
    if args.queue_capacity:
        feed_env["TICKSTORM_FEED_SERVE_QUEUE_CAPACITY"] = str(args.queue_capacity)
    opts = LoadOptions(
        run_dir=run_dir,
        plan=args.plan,
        step_s=args.step_s,
        warmup_s=args.warmup_s,
        processes=args.processes,
        run_time_s=args.run_time,
        channels=args.channels,
        venue=args.venue,
        symbols=args.symbols,
        recording=args.recording,
        history=not args.no_history,
        slow_subscribers=args.slow_subscribers,
        task_interval_s=args.task_interval_s,
        churn=args.churn,
        allow_drops=args.allow_drops,
        sla_file=args.sla,
        feed_env=feed_env,
    )
    report = run_async(run_load(opts), use_uvloop=False)
    write_load_html(report, run_dir)
    _print_summary(report, run_dir)
    join = report.get("join")
    return 1 if join is not None and not join["ok"] else 0


def write_load_html(report: dict[str, Any], run_dir: Path) -> Path:
    """Write the run's knee report page next to its load-report.json."""
    from reports.load_html import render_load_html

    out = run_dir / "load-report.html"
    out.write_text(render_load_html(report), encoding="utf-8")
    return out


def _print_summary(report: dict[str, Any], run_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tickstorm load steps")
    for column in (
        "speed",
        "subscribers",
        "feed p99 ms",
        "SLA ms",
        "delivered msg/s",
        "drops",
        "cpu %",
        "ok",
    ):
        table.add_column(column)
    for s in report["steps"]:
        cpu = ", ".join(f"{k} {v:g}" for k, v in s["cpu_percent"].items())
        table.add_row(
            f"x{s['speed']:g}",
            str(s["subscribers"]),
            str(s["feed_p99_ms"]),
            f"{s['sla_p99_ms']:g}",
            f"{s['delivered_msgs_per_s']:g}",
            str(s["subscriber_drops"]),
            cpu,
            "yes" if s["ok"] else "; ".join(s["reasons"]),
        )
    console = Console(width=160)
    console.print(table)
    console.print(f"knee: {report['knee']}")
    if "join" in report:
        j = report["join"]
        console.print(
            f"history join: {j['subscribers']} subscribers, ok={j['ok']}, {j['events_received']} events"
        )
    console.print(f"report: {run_dir / 'load-report.json'} and {run_dir / 'load-report.html'} (knee chart)")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m reports.load_cli``."""
    parser = argparse.ArgumentParser(prog="tickstorm load")
    _add_arguments(parser)
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
