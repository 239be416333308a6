"""The rich console report: a summary table over the suite, the failed checks with their evidence, the
comparison with a baseline, and the seed and rerun command of each failure. Rendered from report.json."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reports.model import INCOMPLETE, PASS, run_verdict, venue_names, verdict_summary

WIDTH_WHEN_PIPED = 170  # the summary table has 13 columns: logs and CI get a wide, unwrapped table


def make_console(*, plain: bool = False) -> Console:
    """A console for reports: the terminal's width, or a wide one when output goes to a file or CI log."""
    return Console(
        width=None if sys.stdout.isatty() else WIDTH_WHEN_PIPED, force_terminal=False if plain else None
    )


def _num(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.{digits}f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text}{unit}"


def summary_table(report: dict[str, Any]) -> Table:
    """One row per scenario: verdict, latency percentiles, throughput, recovery, memory, loss accounting."""
    table = Table(title=f"tickstorm chaos scenarios (seed {report.get('seed')}, {report.get('mode')})")
    for column, justify in (
        ("scenario", "left"),
        ("venues", "left"),
        ("verdict", "left"),
        ("checks", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("p99.9 ms", "right"),
        ("max ms", "right"),
        ("msg/s", "right"),
        ("recovery s", "right"),
        ("RSS MB/min", "right"),
        ("gaps", "right"),
        ("backfilled", "right"),
        ("DLQ", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for s in report.get("scenarios", []):
        f = s.get("figures") or {}
        verdicts = s.get("verdicts") or []
        verdict = (
            "[green]PASS[/green]" if s["ok"] else "[red]ERROR[/red]" if s.get("error") else "[red]FAIL[/red]"
        )
        table.add_row(
            escape(s["name"]),
            escape(venue_names(s)),
            verdict,
            f"{sum(1 for v in verdicts if v['ok'])}/{len(verdicts)}",
            _num(f.get("latency_p50_ms"), 2),
            _num(f.get("latency_p99_ms"), 2),
            _num(f.get("latency_p999_ms"), 2),
            _num(f.get("latency_max_ms"), 1),
            _num(f.get("throughput_msg_s"), 0),
            _num(f.get("recovery_s"), 2),
            _num(f.get("rss_slope_mb_per_min"), 2),
            _num(f.get("gaps_lost_ids")),
            _num(f.get("backfilled")),
            _num(f.get("dlq")),
        )
    return table


def comparison_table(comparison: dict[str, Any]) -> Table:
    """Each compared figure: baseline, this run, change, and whether it regressed beyond tolerance."""
    table = Table(title=f"compared with {comparison['baseline']}")
    for column in ("figure", "kind", "baseline", "this run", "change", "verdict"):
        table.add_column(column)
    for row in comparison["rows"]:
        change = row.get("change_pct")
        table.add_row(
            escape(row["figure"]),
            row["ratio_kind"],
            _num(row.get("baseline"), 3),
            _num(row.get("run"), 3),
            "-" if change is None else f"{change:+.1f}%",
            "[red]REGRESSED[/red]" if row["regressed"] else "[green]ok[/green]",
        )
    return table


def print_report(console: Console, report: dict[str, Any]) -> None:
    """The whole console report."""
    console.print(summary_table(report))
    if report.get("comparison"):
        console.print(comparison_table(report["comparison"]))
    for s in report.get("scenarios", []):
        if s["ok"]:
            continue
        console.print(f"[red bold]{escape(s['name'])}[/red bold] (seed {s['seed']})")
        if s.get("error"):
            console.print(f"  [red]ERROR[/red] {escape(s['error'])}")
        for v in s.get("verdicts", []):
            if not v["ok"]:
                console.print(f"  [red]FAIL[/red] {escape(v['check'])}: {escape(v['summary'])}")
                if v.get("evidence"):
                    console.print(f"       evidence: {escape(str(v['evidence']))}")
        console.print(f"  rerun: {escape(s['rerun'])}")
    for n in report.get("not_run") or []:
        console.print(f"[yellow]not run[/yellow] {escape(str(n.get('name')))}: {escape(str(n.get('rerun')))}")
    verdict = run_verdict(report)
    colour = "green" if verdict == PASS else "yellow" if verdict == INCOMPLETE else "red"
    console.print(f"[{colour} bold]{verdict}[/{colour} bold] {escape(verdict_summary(report))}")
