"""The tickstorm load report (``runs/<id>/load-report.json``): steps, knee, Locust stats, history join.

Per step: replay speed, subscribers, the feed's p99 (intended send -> written to a subscriber's socket)
and its ingest p99, events delivered to subscribers per second, subscriber drops, CPU of each process,
and the verdict; then the knee. Locust's own figures (message counts, failures) are attached as they are.
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from harness.load.history import join_run

LIBRARIES = ("locust", "websocket-client", "websockets", "uvloop", "picows", "orjson", "msgspec")


def machine() -> dict[str, Any]:
    """CPU, cores, Python and the library versions that move the figures."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), model)
    except OSError:
        pass
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "libraries": versions,
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON Lines file ([] when absent)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _cpu_for(window: tuple[float, float], cpu: list[dict[str, Any]]) -> dict[str, float]:
    inside = [s for s in cpu if window[0] <= s["t"] <= window[1]]
    names = sorted({k for s in inside for k in s if k != "t"})
    return {n: round(sum(s.get(n, 0.0) for s in inside) / len(inside), 1) for n in names} if inside else {}


def _locust_summary(run_dir: Path) -> dict[str, Any]:
    stats_csv = run_dir / "locust_stats.csv"
    rows: list[dict[str, Any]] = []
    if stats_csv.is_file():
        with stats_csv.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                rows.append(
                    {
                        "type": row.get("Type"),
                        "name": row.get("Name"),
                        "requests": int(row.get("Request Count") or 0),
                        "failures": int(row.get("Failure Count") or 0),
                        "median_ms": row.get("Median Response Time"),
                        "p99_ms": row.get("99%"),
                        "rps": float(row.get("Requests/s") or 0.0),
                    }
                )
    return {
        "note": "Locust's response times are the subscribers' view (ms resolution, closed loop); "
        "the feed's histograms are the latency figures of record",
        "entries": rows,
        "files": sorted(p.name for p in run_dir.glob("locust*")),
    }


def build_report(
    opts: Any, *, started: float, locust_rc: int | None, cpu: list[dict[str, Any]]
) -> dict[str, Any]:
    """Assemble the report from the run dir (steps.jsonl, Locust CSV, histories) and the CPU samples."""
    run_dir: Path = opts.run_dir
    records = read_jsonl(run_dir / "steps.jsonl")
    steps = []
    for rec in records:
        if rec.get("kind") != "step":
            continue
        step = rec["step"]
        extra = rec.get("extra", {})
        t_end = extra.get("t_end", 0.0)
        steps.append(
            {
                "index": step["index"],
                "speed": step["speed"],
                "subscribers": step["users"],
                "subscribers_connected": rec["subscribers"],
                "feed_p99_ms": rec["p99_ms"],
                "feed_p50_ms": extra.get("p50_ms"),
                "feed_p999_ms": extra.get("p999_ms"),
                "feed_ingest_p99_ms": rec["ingest_p99_ms"],
                "sla_p99_ms": rec["sla_p99_ms"],
                "within_sla_fraction": rec["within_sla"],
                "feed_events_per_s": rec["feed_events_per_s"],
                "delivered_msgs_per_s": rec["delivered_per_s"],
                "frames_per_s": extra.get("frames_per_s"),
                "subscriber_drops": rec["drops"],
                "slow_disconnects": rec["disconnects"],
                "window_s": rec["window_s"],
                "cpu_percent": _cpu_for((t_end - rec["window_s"], t_end), cpu),
                "ok": rec["ok"],
                "reasons": rec["reasons"],
            }
        )
    end = next((r for r in records if r.get("kind") == "end"), None)
    aborted = next((r for r in records if r.get("kind") == "aborted"), None)
    knee: dict[str, Any]
    if end is None and aborted is not None:
        s = aborted["step"]
        knee = {
            "found": False,
            "aborted": aborted,
            "note": f"the run stopped during step x{s['speed']:g} with {s['users']} subscribers, before it "
            f"was measured: {aborted['reason']}",
        }
    elif end is None:
        knee = {"found": False, "note": "the run ended before the plan finished (run time or error)"}
    elif end["knee"]:
        knee = {
            "found": True,
            "last_good": end["last_good"],
            "first_bad": end["first_bad"],
            "reasons": end["reasons"],
        }
    else:
        knee = {"found": False, "last_good": end["last_good"], "note": "every step stayed within SLA"}
    report: dict[str, Any] = {
        "kind": "tickstorm-load-report",
        "run_id": run_dir.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "duration_s": round(time.time() - started, 1),
        "machine": machine(),
        "config": opts.to_dict(),
        "latency_definition": "venue intended send time (event time E, ms) -> event written to the "
        "subscriber's socket; from the feed's own histogram, per event per subscriber",
        "steps": steps,
        "knee": knee,
        "locust": {"exit_code": locust_rc, **_locust_summary(run_dir)},
    }
    if opts.history and (run_dir / "feed.jsonl").is_file():
        # A run that ended at the knee or the end of the plan stalled the venue before the subscribers
        # stopped: they are accountable to the feed's last event. A run cut by --run-time is not.
        strict = opts.strict_tail or end is not None
        joins = join_run(run_dir / "feed.jsonl", run_dir / "subscribers", strict_tail=strict)
        failed = [j for j in joins if not j.ok]
        report["join"] = {
            "strict_tail": strict,
            "subscribers": len(joins),
            "ok": not failed and bool(joins),
            "events_received": sum(j.received for j in joins),
            "gap_ranges": sum(j.gap_ranges for j in joins),
            "failed": [
                {"subscriber": j.name, "checks": [v.to_dict() for v in j.verdicts if not v.ok][:5]}
                for j in failed[:10]
            ],
        }
    return report


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write the report as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
