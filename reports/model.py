"""report.json: the versioned document every report is rendered from (docs/report-format.md).

:func:`build_report` turns the results of a ``tickstorm run`` into one JSON-able dict: run settings, the
machine, the run's verdict (PASS, FAIL or INCOMPLETE, with the scenarios an interruption left unrun), and
per scenario its verdicts with evidence, key figures, fault windows, the feed's state events, per-interval
series and latency histograms. :func:`sanitize` removes what must not leave the machine:
secrets (any key that looks like a credential) and absolute paths.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tickstorm.machine import machine_facts

if TYPE_CHECKING:
    from harness.runner import ScenarioResult

REPORT_FORMAT = "tickstorm.report/1"
SECRET_KEY = re.compile(r"(api[_-]?key|secret|token|password|passwd|credential|private[_-]?key)", re.I)
REDACTED = "***redacted***"
PASS, FAIL, INCOMPLETE = "PASS", "FAIL", "INCOMPLETE"


def run_verdict(report: dict[str, Any]) -> str:
    """PASS, FAIL or INCOMPLETE (reports older than the ``verdict`` field: PASS or FAIL from ``ok``)."""
    verdict = report.get("verdict")
    if verdict in (PASS, FAIL, INCOMPLETE):
        return str(verdict)
    return PASS if report.get("ok") else FAIL


def verdict_summary(report: dict[str, Any]) -> str:
    """``3 scenario(s), 1 failed``, or for an incomplete run how many ran and why the others did not."""
    scenarios = [s for s in report.get("scenarios") or [] if isinstance(s, dict)]
    failed = sum(1 for s in scenarios if not s.get("ok"))
    not_run = [n for n in report.get("not_run") or [] if isinstance(n, dict)]
    if run_verdict(report) != INCOMPLETE:
        return f"{len(scenarios)} scenario(s), {failed} failed"
    why = f"interrupted by {report['interrupted']}" if report.get("interrupted") else "incomplete"
    names = ", ".join(str(n.get("name")) for n in not_run) or "-"
    return (
        f"{why}: {len(scenarios)} of {len(scenarios) + len(not_run)} scenario(s) run, {failed} failed; "
        f"not run: {names}"
    )


def tickstorm_version() -> str:
    """The installed tickstorm version."""
    try:
        return importlib.metadata.version("tickstorm")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def relative(path: str) -> str:
    """A path as the user would type it from the working directory (never an absolute path)."""
    p = Path(path)
    if not p.is_absolute():
        return path
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return p.name


def venue_names(scenario: dict[str, Any]) -> str:
    """The venues a scenario ran (instance names; the venue too where the instance is named otherwise)."""
    names = []
    for v in scenario.get("venues") or []:
        name, venue = v.get("name"), v.get("venue")
        names.append(name if name == venue else f"{name} ({venue})")
    return ", ".join(names) or "-"


def scenario_section(result: ScenarioResult) -> dict[str, Any]:
    """One scenario's part of the report."""
    m = result.measurements or {}
    latency = m.get("latency", {})
    overall = latency.get("overall", {})
    recoveries = [v.evidence.get("recovery_s") for v in result.verdicts if v.check.startswith("recovery:")]
    dlq = next((v.evidence.get("dlq_by_stream") for v in result.verdicts if v.check.startswith("DLQ")), None)
    figures = dict(result.figures)
    figures.update(
        {
            "latency_p50_ms": overall.get("p50_ms", figures.get("latency_p50_ms")),
            "latency_p99_ms": overall.get("p99_ms", figures.get("latency_p99_ms")),
            "latency_p999_ms": overall.get("p999_ms"),
            "latency_max_ms": overall.get("max_ms", figures.get("latency_max_ms")),
            "throughput_msg_s": m.get("throughput_msg_s"),
            "recovery_s": max((r for r in recoveries if r is not None), default=None),
            "dlq": sum(dlq.values()) if isinstance(dlq, dict) else 0,
        }
    )
    scenario = result.scenario
    path = relative(result.path)
    return {
        "name": result.name,
        "path": path,
        "description": scenario.description if scenario else "",
        "seed": result.seed,
        "mode": result.mode,
        "proxy": result.proxy_kind,
        "ok": result.ok,
        "error": result.error,
        "rerun": result.rerun().replace(result.path, path),
        "speed": scenario.speed if scenario else None,
        "duration_s": scenario.duration_s if scenario else None,
        "venues": [
            {"name": v.instance, "venue": v.venue, "recording": v.recording, "symbols": len(v.symbols or [])}
            for v in scenario.venue_specs()
        ]
        if scenario
        else [],
        "figures": figures,
        "verdicts": [v.to_dict() for v in result.verdicts],
        "faults": m.get(
            "faults",
            [{"name": f.name, "start_s": None, "end_s": None} for f in result.faults],
        ),
        "events": m.get("events", []),
        "intervals": m.get("intervals"),
        "latency": latency or None,
    }


def build_report(
    results: list[ScenarioResult],
    *,
    seed: int,
    mode: str,
    sla_file: str,
    proxy: str | None = None,
    not_run: Sequence[ScenarioResult] = (),
    interrupted: str | None = None,
) -> dict[str, Any]:
    """The whole report of one run of the suite.

    ``not_run``: the scenarios the run did not finish (results without a run: name, path, seed, mode);
    ``interrupted``: the signal that stopped the run. Either makes the verdict INCOMPLETE (``ok`` false).
    """
    proxies = sorted({r.proxy_kind for r in results if r.proxy_kind != "?"})
    if not_run or interrupted is not None:
        verdict = INCOMPLETE
    else:
        verdict = PASS if all(r.ok for r in results) else FAIL
    report = {
        "format": REPORT_FORMAT,
        "created_unix": time.time(),
        "tickstorm_version": tickstorm_version(),
        "machine": machine_facts(),
        "seed": seed,
        "mode": mode,
        "proxy": proxy or ", ".join(proxies) or "?",
        "verdict": verdict,
        "ok": verdict == PASS,
        "interrupted": interrupted,
        "sla_file": relative(sla_file),
        "scenarios": [scenario_section(r) for r in results],
        "not_run": [
            {"name": r.name, "path": relative(r.path), "rerun": r.rerun().replace(r.path, relative(r.path))}
            for r in not_run
        ],
        "comparison": None,
    }
    return sanitize(report)


def sanitize(value: Any) -> Any:
    """Redact credential-looking keys and replace absolute paths under home, the working or temp dirs."""
    if isinstance(value, dict):
        return {k: REDACTED if SECRET_KEY.search(str(k)) else sanitize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitize(v) for v in value]
    if isinstance(value, str):
        return _strip_paths(value)
    return value


def _prefixes() -> list[str]:
    roots = {str(Path.cwd()), os.path.expanduser("~"), "/tmp", os.environ.get("TMPDIR", "/tmp")}
    return sorted((r.rstrip("/") for r in roots if r and r != "/"), key=len, reverse=True)


def _strip_paths(text: str) -> str:
    if "/" not in text:
        return text
    for prefix in _prefixes():
        text = re.sub(re.escape(prefix) + r"/?", "" if prefix == str(Path.cwd()) else "<dir>/", text)
    return text
