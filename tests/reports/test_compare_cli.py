"""Baseline comparison (ratios to the ceiling, absolute figures with a wider tolerance) and the
``tickstorm report`` command on a saved run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from reports.compare import ABSOLUTE, BASELINE_FORMAT, RATIO, compare, published_figures
from reports.model import REPORT_FORMAT

REPO = Path(__file__).resolve().parents[2]


def report(p99: float, ceiling_p99: float, recovery: float) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "seed": 1,
        "mode": "processes",
        "ok": True,
        "ceiling": {"latency": {"p50_ms": 1.0, "p99_ms": ceiling_p99}},
        "scenarios": [
            {
                "name": "baseline",
                "path": "scenarios/baseline.py",
                "ok": True,
                "seed": 1,
                "rerun": "tickstorm run scenarios/baseline.py --seed 1",
                "figures": {"latency_p50_ms": 2.0, "latency_p99_ms": p99, "recovery_s": recovery},
                "verdicts": [],
            }
        ],
    }


def baseline_of(doc: dict[str, Any]) -> dict[str, Any]:
    return {"format": BASELINE_FORMAT, "name": "sla", "figures": published_figures(doc)}


def test_latency_is_judged_as_a_ratio_to_the_ceiling_of_the_same_run() -> None:
    base = baseline_of(report(p99=10.0, ceiling_p99=5.0, recovery=1.0))
    assert base["figures"]["baseline: latency p99 / ceiling p99"] == {
        "value": 2.0,
        "kind": RATIO,
        "better": "lower",
    }
    # A slower machine: everything doubled, ratio unchanged -> no regression on the ratio.
    noisy = compare(published_figures(report(p99=20.0, ceiling_p99=10.0, recovery=1.0)), base)
    rows = {r["figure"]: r for r in noisy["rows"]}
    assert not rows["baseline: latency p99 / ceiling p99"]["regressed"]
    assert rows["baseline: latency p99 ms"]["ratio_kind"] == ABSOLUTE
    assert not rows["baseline: latency p99 ms"]["regressed"]  # +100% is within the absolute tolerance
    # The feed itself got slower: the ratio moves past the 25% tolerance.
    worse = compare(published_figures(report(p99=14.0, ceiling_p99=5.0, recovery=3.5)), base)
    rows = {r["figure"]: r for r in worse["rows"]}
    assert rows["baseline: latency p99 / ceiling p99"]["regressed"]
    assert rows["baseline: latency p99 / ceiling p99"]["change_pct"] == 40.0
    assert rows["baseline: recovery s"]["regressed"]  # 3.5 s vs 1.0 s: beyond +100%


def test_higher_is_better_figures_regress_downwards() -> None:
    base = {
        "format": BASELINE_FORMAT,
        "name": "b",
        "figures": published_figures({}, {"feed_vs_picows_ceiling": 0.7}),
    }
    ok = compare(published_figures({}, {"feed_vs_picows_ceiling": 0.6}), base)
    bad = compare(published_figures({}, {"feed_vs_picows_ceiling": 0.5}), base)
    assert not ok["rows"][0]["regressed"] and bad["rows"][0]["regressed"]


def test_report_command_renders_again_and_fails_on_a_regression(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "report.json").write_bytes(orjson.dumps(report(p99=14.0, ceiling_p99=5.0, recovery=1.0)))
    baseline = tmp_path / "sla.json"
    baseline.write_bytes(orjson.dumps(baseline_of(report(p99=10.0, ceiling_p99=5.0, recovery=1.0))))
    cmd = [sys.executable, "-m", "tickstorm", "report", str(run_dir)]
    html = tmp_path / "again.html"
    same = subprocess.run([*cmd, "--html", str(html)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert same.returncode == 0, same.stderr
    assert html.read_text().count('data-chart="events"') == 1
    compared = subprocess.run(
        [*cmd, "--compare", str(baseline)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert compared.returncode == 1 and "REGRESSED" in compared.stdout
    bad = subprocess.run(
        [*cmd, "--compare", str(tmp_path / "nope.json")], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "no such baseline" in bad.stderr


def test_report_command_leaves_the_runs_own_html_alone(tmp_path: Path) -> None:
    """Without --html, `tickstorm report` writes nothing into the run and says where its page is."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "report.json").write_bytes(orjson.dumps(report(p99=14.0, ceiling_p99=5.0, recovery=1.0)))
    (run_dir / "report.html").write_text("the page the run wrote")
    cmd = [sys.executable, "-m", "tickstorm", "report", str(run_dir)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (run_dir / "report.html").read_text() == "the page the run wrote"
    assert sorted(p.name for p in run_dir.iterdir()) == ["report.html", "report.json"]
    assert "(the run's own, unchanged; --html OUT writes this rendering)" in proc.stdout
    (run_dir / "report.html").unlink()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "no HTML report written (--html OUT writes one)" in proc.stdout
    assert not (run_dir / "report.html").exists()
    bad = subprocess.run(
        [*cmd, "--html", str(tmp_path / "no" / "such" / "dir.html")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == f"tickstorm report: --html {tmp_path / 'no' / 'such' / 'dir.html'}: " + (
        "No such file or directory"
    )
