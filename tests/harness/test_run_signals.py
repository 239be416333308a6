"""`tickstorm run` stopped by a signal: SIGTERM stops it like Ctrl-C (teardown, INCOMPLETE report, exit
143), and a SIGKILLed run takes its venue, proxy and feed processes with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil
import pytest

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]

SCENARIO = (
    "from harness.scenario import Scenario\nSCENARIO = Scenario(name={!r}, description='', duration_s={})\n"
)
LONG, SHORT = SCENARIO.format("long", 60.0), SCENARIO.format("short", 2.0)


RUN = ["run", "long.py", "short.py", "--no-ceiling", "--out", "out"]


def start_run(
    tmp_path: Path, command: list[str] = RUN
) -> tuple[subprocess.Popen[bytes], list[psutil.Process]]:
    """``tickstorm run long.py short.py`` (or ``command``) with its own temp folder; returns once venue,
    proxy and feed run."""
    (tmp_path / "long.py").write_text(LONG)
    (tmp_path / "short.py").write_text(SHORT)
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "CI": "true", "TMPDIR": str(tmp_path / "tmp")}
    cmd = [sys.executable, "-m", "tickstorm", *command]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    children: list[psutil.Process] = []
    while len(children) < 3:  # venue, proxy, feed
        assert proc.poll() is None, proc.communicate()[0].decode()
        assert time.monotonic() < deadline, "the run never started its three processes"
        time.sleep(0.1)
        children = psutil.Process(proc.pid).children(recursive=True)
    time.sleep(1.0)  # the replay is under way
    return proc, children


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes still running (a zombie waiting for its new parent to reap it counts as dead)."""
    out = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def kill_all(proc: subprocess.Popen[bytes], children: list[psutil.Process]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
    for child in alive(children):
        child.kill()


def test_sigterm_stops_the_run_writes_an_incomplete_report_and_leaves_nothing(tmp_path: Path) -> None:
    proc, children = start_run(tmp_path)
    try:
        proc.send_signal(signal.SIGTERM)  # only the runner: it must stop its children itself
        out, _ = proc.communicate(timeout=60)
    finally:
        kill_all(proc, children)
    text = out.decode()
    assert proc.returncode == 143, text
    assert "interrupted (SIGTERM) after 0 of 2 scenarios" in text and "Traceback" not in text
    assert alive(children) == [], "venue, proxy or feed outlived the run"
    assert list((tmp_path / "tmp").iterdir()) == [], "the run left its temporary folder"
    (run_dir,) = (tmp_path / "out").iterdir()
    report = orjson.loads((run_dir / "report.json").read_bytes())
    assert (report["verdict"], report["ok"], report["interrupted"]) == ("INCOMPLETE", False, "SIGTERM")
    assert [n["name"] for n in report["not_run"]] == ["long", "short"]
    assert "INCOMPLETE" in text and "not run: long, short" in text
    html = (run_dir / "report.html").read_text()
    assert "<title>tickstorm report — INCOMPLETE</title>" in html and "badge ok" not in html
    junit = (run_dir / "junit.xml").read_text()
    assert 'skipped="2"' in junit and "interrupted by SIGTERM" in junit


def test_a_sigkilled_run_takes_its_processes_with_it(tmp_path: Path) -> None:
    proc, children = start_run(tmp_path)
    try:
        proc.kill()  # no handler runs: the children must notice on their own
        proc.wait(10)
        deadline = time.monotonic() + 20
        while alive(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive(children) == [], "venue, proxy or feed outlived a SIGKILLed run"
    finally:
        kill_all(proc, children)


def test_an_interrupted_baseline_writes_its_incomplete_run_and_no_baseline(tmp_path: Path) -> None:
    command = ["baseline", "long.py", "short.py", "--no-bench", "--dir", "baselines", "--out", "out"]
    proc, children = start_run(tmp_path, command)
    try:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        kill_all(proc, children)
    text = out.decode()
    assert proc.returncode == 143, text
    assert "no baseline written" in text and "Traceback" not in text
    assert not (tmp_path / "baselines").exists()
    (run_dir,) = (tmp_path / "out").iterdir()
    report = orjson.loads((run_dir / "report.json").read_bytes())
    assert (report["verdict"], [n["name"] for n in report["not_run"]]) == ("INCOMPLETE", ["long", "short"])
    assert alive(children) == [] and list((tmp_path / "tmp").iterdir()) == []
