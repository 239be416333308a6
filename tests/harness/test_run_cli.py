"""`tickstorm run`: bad scenario files and parameters get a one-line error and exit 2, nothing started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RUN = [sys.executable, "-m", "tickstorm", "run"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\n", "defines no SCENARIO"),
        ("raise RuntimeError('boom')\n", "cannot load (RuntimeError: boom)"),
        (
            "from harness.scenario import Scenario, at, toxic\n"
            "SCENARIO = Scenario(name='t', description='', timeline=[at(1, toxic('ws', 'earthquake'))])\n",
            "unknown toxic 'earthquake'",
        ),
        (
            "from harness.scenario import Scenario\nSCENARIO = Scenario(name='t', description='',"
            " speed=500)\n",
            "speed",
        ),
        (
            "from harness.scenario import Scenario\nSCENARIO = Scenario(name='t', description='',"
            " recording='x')\n",
            "unknown recording set 'x'",
        ),
    ],
)
def test_bad_scenario_files_exit_2_with_one_line(tmp_path: Path, source: str, message: str) -> None:
    path = tmp_path / "bad.py"
    path.write_text(source)
    proc = subprocess.run([*RUN, str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr and "bad.py" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    proc = subprocess.run([*RUN, str(tmp_path / "nope.py")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no such scenario file" in proc.stderr


def test_junit_report_names_failed_checks_and_the_rerun_command() -> None:
    from xml.etree import ElementTree as ET

    from harness.checks.verdict import Verdict
    from harness.runner import ScenarioResult
    from reports.junit import junit_xml

    good = ScenarioResult("a", "scenarios/a.py", 1, "embedded", verdicts=[Verdict("x", True, "fine")])
    bad = ScenarioResult(
        "b", "scenarios/b.py", 9, "embedded", verdicts=[Verdict("books exact", False, "1 differs")]
    )
    broken = ScenarioResult("c", "scenarios/c.py", 1, "?", error="TimeoutError: no subscribe")
    suite = ET.fromstring(junit_xml([good, bad, broken]))
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    failure = suite.find("testcase[@name='b']/failure")
    assert failure is not None and "books exact: 1 differs" in (failure.text or "")
    assert "tickstorm run scenarios/b.py --seed 9" in (failure.text or "")


def test_every_command_is_registered_by_its_entry_point() -> None:
    """Each ``tickstorm.commands`` entry point adds the command it is named after, and only the
    registering module is imported when one command is asked for."""
    import argparse

    from tickstorm.cli import build_parser, commands

    available = commands()
    assert {"venue", "proxy", "feed", "dlq", "run", "report", "baseline", "load", "observe"} <= set(available)
    full = build_parser()
    choices = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(choices) == set(available)
    for command, entry in available.items():
        sub = argparse.ArgumentParser().add_subparsers()
        entry.load()(sub)
        assert command in sub.choices
        only = build_parser(only=command)
        only_choices = next(a for a in only._actions if isinstance(a, argparse._SubParsersAction)).choices
        assert command in only_choices and len(only_choices) <= 2
