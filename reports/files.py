"""Where reports live: a run directory (report.json, report.html, junit.xml) and baseline files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from reports.compare import BASELINE_FORMAT, compare, published_figures
from reports.html import render_html
from reports.model import INCOMPLETE, REPORT_FORMAT, build_report

if TYPE_CHECKING:
    from harness.runner import ScenarioResult


def run_dir_name(seed: int) -> str:
    """``20261126-021500-seed1``: sortable, one per run."""
    return f"{dt.datetime.now(dt.UTC).strftime('%Y%m%d-%H%M%S')}-seed{seed}"


def write_run(
    results: list[ScenarioResult],
    *,
    out: Path,
    seed: int,
    mode: str,
    sla_file: str,
    ceiling: dict[str, Any] | None,
    baseline: dict[str, Any] | None,
    junit: bytes,
    not_run: Sequence[ScenarioResult] = (),
    interrupted: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Build the report of a run and write report.json, report.html and junit.xml into a new directory
    (``not_run``/``interrupted``: an incomplete run, see :func:`reports.model.build_report`)."""
    report = build_report(
        results, seed=seed, mode=mode, sla_file=sla_file, not_run=not_run, interrupted=interrupted
    )
    report["ceiling"] = ceiling
    if baseline is not None:
        report["comparison"] = compare(published_figures(report), baseline)
    run_dir = out / run_dir_name(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_report(run_dir, report)
    (run_dir / "junit.xml").write_bytes(junit)
    return run_dir, report


def write_report(run_dir: Path, report: dict[str, Any]) -> None:
    """report.json and report.html of one run."""
    (run_dir / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    (run_dir / "report.html").write_text(render_html(report), encoding="utf-8")


def load_report(path: Path) -> dict[str, Any]:
    """A report.json (or the one inside a run directory), checked for its format."""
    return _load(path / "report.json" if path.is_dir() else path, REPORT_FORMAT, "report")


def load_baseline(path: Path) -> dict[str, Any]:
    """A baseline file, checked for its format; one measured by an incomplete run is refused."""
    doc = _load(path, BASELINE_FORMAT, "baseline")
    if doc.get("verdict") == INCOMPLETE:
        raise ValueError(f"{path}: measured by an incomplete run, not a baseline")
    return doc


def _load(path: Path, fmt: str, what: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such {what}") from None
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise ValueError(f"{path}: not a tickstorm {what} (format {fmt} expected)")
    return doc
