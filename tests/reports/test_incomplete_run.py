"""An interrupted run is INCOMPLETE, not PASS: report.json (verdict, ok false, the scenarios not run), the
console, the HTML page, JUnit, `tickstorm report` and the baseline loader all say so."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import orjson
import pytest
from rich.console import Console

from harness.checks.verdict import Verdict
from harness.runner import ScenarioResult
from reports.compare import BASELINE_FORMAT
from reports.console import print_report
from reports.files import load_baseline
from reports.html import render_html
from reports.junit import junit_xml
from reports.model import build_report, run_verdict

REPO = Path(__file__).resolve().parents[2]


def result(name: str, ok: bool = True) -> ScenarioResult:
    return ScenarioResult(
        name, f"scenarios/{name}.py", 1, "embedded", "processes", verdicts=[Verdict("books exact", ok, "-")]
    )


def not_run(name: str) -> ScenarioResult:
    return ScenarioResult(name, f"scenarios/{name}.py", 1, "?", "processes")


def interrupted_report() -> dict:  # type: ignore[type-arg]
    return build_report(
        [result("a")],
        seed=1,
        mode="processes",
        sla_file="harness/sla.toml",
        not_run=[not_run("b"), not_run("c")],
        interrupted="SIGTERM",
    )


def test_an_interrupted_run_is_incomplete_and_names_what_did_not_run() -> None:
    report = interrupted_report()
    assert (report["verdict"], report["ok"], report["interrupted"]) == ("INCOMPLETE", False, "SIGTERM")
    assert report["not_run"] == [
        {"name": "b", "path": "scenarios/b.py", "rerun": "tickstorm run scenarios/b.py --seed 1"},
        {"name": "c", "path": "scenarios/c.py", "rerun": "tickstorm run scenarios/c.py --seed 1"},
    ]
    kw = {"seed": 1, "mode": "processes", "sla_file": "harness/sla.toml"}
    complete = build_report([result("a")], **kw)  # type: ignore[arg-type]
    failed = build_report([result("a"), result("b", ok=False)], **kw)  # type: ignore[arg-type]
    assert (complete["verdict"], complete["ok"], complete["not_run"]) == ("PASS", True, [])
    assert (failed["verdict"], failed["ok"]) == ("FAIL", False)
    assert run_verdict({"ok": True}) == "PASS" and run_verdict({"ok": False}) == "FAIL"  # older reports


def test_console_html_and_junit_show_incomplete() -> None:
    report = interrupted_report()
    console = Console(file=io.StringIO(), width=200)
    print_report(console, report)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "INCOMPLETE interrupted by SIGTERM: 1 of 3 scenario(s) run, 0 failed; not run: b, c" in text
    assert "tickstorm run scenarios/c.py --seed 1" in text
    html = render_html(report)
    assert "<title>tickstorm report — INCOMPLETE</title>" in html
    assert '<span class="badge bad">INCOMPLETE</span>' in html and "badge ok" not in html.split("</h1>")[0]
    assert "1 of 3 scenario(s) run, 0 failed; not run: b, c" in html
    assert "<code>tickstorm run scenarios/b.py --seed 1</code>" in html
    suite = ET.fromstring(junit_xml([result("a")], [not_run("b"), not_run("c")], "SIGTERM"))
    assert (suite.get("tests"), suite.get("skipped"), suite.get("failures")) == ("3", "2", "0")
    skipped = suite.find("testcase[@name='c']/skipped")
    assert skipped is not None and skipped.get("message") == "not run: the run was interrupted by SIGTERM"


def test_report_command_exits_1_on_an_incomplete_run(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_bytes(orjson.dumps(interrupted_report()))
    cmd = [sys.executable, "-m", "tickstorm", "report", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "INCOMPLETE" in proc.stdout and "not run: b, c" in proc.stdout


def test_a_baseline_measured_by_an_incomplete_run_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sla.json"
    path.write_bytes(orjson.dumps({"format": BASELINE_FORMAT, "name": "sla", "verdict": "INCOMPLETE"}))
    with pytest.raises(ValueError, match="incomplete run, not a baseline"):
        load_baseline(path)
