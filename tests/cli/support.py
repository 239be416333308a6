"""Run the real ``tickstorm`` command in a subprocess and judge its error report."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RECORDINGS = Path(__file__).resolve().parents[2] / "mock_venues" / "recordings"
BUNDLED = RECORDINGS / "btcusdt_20240808.norm.jsonl.gz"
"""A bundled Binance spot recording the tests cut their small (good or broken) recordings from."""

TIMEOUT_S = 60.0
"""A command that should fail at once but serves instead is stopped after this long (and the test fails)."""


@dataclass
class Outcome:
    """Exit code and output of one command."""

    code: int
    stdout: str
    stderr: str


def tickstorm(*args: str | Path, cwd: Path | None = None) -> Outcome:
    """``python -m tickstorm ARGS``; a command still running after :data:`TIMEOUT_S` is killed (code None
    turns into -9 and the assertions name it)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tickstorm", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return Outcome(-9, "", f"still running after {TIMEOUT_S} s; stderr: {err}")
    return Outcome(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(outcome: Outcome, *names: str | Path) -> str:
    """Exit 2, one line on stderr naming each of ``names``, no traceback; returns the line."""
    assert "Traceback" not in outcome.stderr, outcome.stderr
    lines = outcome.stderr.strip().splitlines()
    assert outcome.code == 2, (outcome.code, outcome.stderr)
    assert len(lines) == 1, outcome.stderr
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]
