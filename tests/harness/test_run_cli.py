"""`tickstorm run`: bad scenario files and parameters get a one-line error and exit 2, nothing started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RUN = [sys.executable, "-m", "harness", "run"]


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
