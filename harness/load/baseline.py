"""The load baseline: a fixed campaign of load runs whose measured figures go to reports/baselines.

``tickstorm load-baseline`` (and ``nox -s load``) runs :data:`CAMPAIGN` one run after the other on this
machine and writes ``reports/baselines/load-knee.json``: per run its steps and knee, and a summary with
the acceptance verdict (500 subscribers at recorded speed: every event delivered, p99 within SLA), the knee
by subscribers at recorded speed and the knee by replay speed. Nothing here invents a figure: every number
in the file comes from a run's ``load-report.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STEP_FIELDS = (
    "speed",
    "subscribers",
    "subscribers_connected",
    "feed_p50_ms",
    "feed_p99_ms",
    "feed_p999_ms",
    "feed_ingest_p99_ms",
    "sla_p99_ms",
    "within_sla_fraction",
    "feed_events_per_s",
    "delivered_msgs_per_s",
    "frames_per_s",
    "subscriber_drops",
    "cpu_percent",
    "ok",
    "reasons",
)


@dataclass(frozen=True)
class CampaignRun:
    """One load run of the campaign."""

    name: str
    purpose: str
    plan: str
    history: bool
    processes: int = 0
    step_s: float = 12.0


CAMPAIGN: tuple[CampaignRun, ...] = (
    CampaignRun(
        "acceptance_x1_500",
        "500 subscribers at recorded speed: every subscriber receives every event of its streams (history "
        "join) and the feed's p99 stays within SLA",
        "1x500",
        history=True,
        step_s=20.0,
    ),
    CampaignRun(
        "subscriber_ramp_x1",
        "the knee by subscribers at recorded speed (Locust as a master and 2 workers, so one Locust "
        "process is not the first thing to saturate)",
        "1x200,1x500,1x650,1x800,1x1000",
        history=False,
        processes=2,
    ),
    CampaignRun(
        "speed_ramp_50",
        "the knee by replay speed with 50 subscribers (one Locust process: with workers, a master "
        "stops the test when saturated workers miss their heartbeats, before the last step is measured)",
        "1x50,2x50,5x50,10x50,20x50,50x50,100x50",
        history=False,
    ),
)


def campaign_runs(names: str | None) -> list[CampaignRun]:
    """The campaign, or the named runs of it (comma-separated); unknown names raise ValueError."""
    if not names:
        return list(CAMPAIGN)
    by_name = {run.name: run for run in CAMPAIGN}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ValueError(f"unknown campaign run(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [by_name[n] for n in wanted]


def run_entry(run: CampaignRun, report: dict[str, Any]) -> dict[str, Any]:
    """What the baseline keeps of one run's load report."""
    join = report.get("join")
    return {
        "purpose": run.purpose,
        "measured_at": report.get("created") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "plan": run.plan,
        "step_s": run.step_s,
        "locust_processes": run.processes,
        "steps": [{k: step.get(k) for k in STEP_FIELDS} for step in report["steps"]],
        "knee": report["knee"],
        "history_join": None
        if join is None
        else {k: join.get(k) for k in ("ok", "subscribers", "events_received", "gap_ranges", "failed")},
    }


def _step_text(step: dict[str, Any]) -> str:
    return (
        f"x{step['speed']:g} with {step['subscribers']} subscribers: p99 {step['feed_p99_ms']} ms "
        f"(SLA {step['sla_p99_ms']:g}, {100 * (step['within_sla_fraction'] or 0):.2f} % within)"
    )


def knee_text(entry: dict[str, Any]) -> str:
    """The knee of one run in words: last step within SLA, first step beyond it and why."""
    steps = entry["steps"]
    good = [s for s in steps if s["ok"]]
    bad = [s for s in steps if not s["ok"]]
    parts = [f"last good {_step_text(good[-1])}" if good else "no step within SLA"]
    knee = entry.get("knee") or {}
    if bad:
        parts.append(f"first beyond {_step_text(bad[0])}: {'; '.join(bad[0]['reasons'])}")
    elif "last_good" not in knee:  # the plan did not run to its end: the report says why
        parts.append(str(knee.get("note", "the run ended before the plan finished")))
    else:
        parts.append("no knee inside the plan (every step within SLA)")
    return "; ".join(parts)


def acceptance(entry: dict[str, Any]) -> dict[str, Any]:
    """The acceptance verdict of a run: every step within SLA and (if joined) every event delivered."""
    join = entry["history_join"]
    steps = entry["steps"]
    ok = bool(steps) and all(s["ok"] for s in steps) and (join is None or bool(join["ok"]))
    return {
        "ok": ok,
        "steps": [_step_text(s) for s in steps],
        "history_join": join,
    }


def summarize(entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The baseline's summary: the acceptance verdict and the knees, from the runs that were made."""
    summary: dict[str, Any] = {}
    if "acceptance_x1_500" in entries:
        summary["acceptance_x1_500"] = acceptance(entries["acceptance_x1_500"])
    if "subscriber_ramp_x1" in entries:
        summary["knee_subscribers_at_x1"] = knee_text(entries["subscriber_ramp_x1"])
    if "speed_ramp_50" in entries:
        summary["knee_speed_with_50_subscribers"] = knee_text(entries["speed_ramp_50"])
    return summary


def write_baseline(path: Path, entries: dict[str, dict[str, Any]], machine: dict[str, Any]) -> dict[str, Any]:
    """Write the baseline file (the runs of this campaign replace those of the same name)."""
    runs: dict[str, Any] = {}
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        runs = {k: v for k, v in old.get("runs", {}).items() if k in {r.name for r in CAMPAIGN}}
    runs.update(entries)
    baseline = {
        "benchmark": "load-knee",
        "note": (
            "written by `tickstorm load-baseline` (nox -s load). Latency: the venue's intended send time to "
            "the moment an event is written to a subscriber's socket (the feed's own histogram, nine buckets "
            "per decade). Subscribers take book,trade of btcusdt from the bundled spot-btcusdt recording. "
            "The machine is shared: figures move between runs (docs/load.md)."
        ),
        "machine": machine,
        "runs": runs,
        "summary": summarize(runs),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(baseline, indent=2) + "\n", encoding="utf-8")
    return baseline
