"""nox sessions: tests, lint, chaos (the main job), soak and fuzz (nightly), load, bench, and dev.

Each session builds its own virtualenv under .nox/, so a fresh machine needs only Python 3.11+ with venv
and nox in a virtualenv (the README's commands: `python3 -m venv .venv && .venv/bin/pip install nox`).
`dev` installs tickstorm itself into that .venv, so `source .venv/bin/activate` puts `tickstorm` on PATH.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DEV_VENV = Path(__file__).resolve().parent / ".venv"


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite in parallel (pytest-xdist)."""
    session.install("-e", ".[test]")
    args = session.posargs or ["-n", "auto"]
    if CI:
        args = [*args, "--junitxml=runs/junit-tests.xml"]
    session.run("pytest", *args)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) and mypy."""
    session.install("-e", ".[lint,test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("python", "-m", "tickstorm.devtools.imports")


@nox.session
def chaos(session: nox.Session) -> None:
    """The main job: the venue check, then every chaos scenario (venue -> fault proxy -> feed)."""
    session.install("-e", ".")
    session.run("tickstorm", "venue-check")
    junit = ["--junit", "runs/junit-chaos.xml"] if CI else []
    session.run("tickstorm", "run", "scenarios", *junit, *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """Nightly runs: one recorded hour at x10 with the feed's memory checked (about 7 minutes)."""
    session.install("-e", ".")
    junit = ["--junit", "runs/junit-soak.xml"] if CI else []
    session.run("tickstorm", "run", "scenarios/nightly", *junit, *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Nightly fuzzing (tests/fuzz): 100,000 Hypothesis inputs per decoder of outside bytes, one decoder
    after another; inputs tried per decoder go to runs/fuzz/summary.json (docs/fuzzing.md). The budget is
    TICKSTORM_FUZZ_EXAMPLES (default here 100000); extra arguments go to pytest."""
    session.install("-e", ".[test]")
    examples = os.environ.get("TICKSTORM_FUZZ_EXAMPLES", "100000")
    args = session.posargs or ["tests/fuzz"]
    session.run(
        "pytest",
        "-n",
        "0",
        "-p",
        "no:cacheprovider",
        "--timeout=0",
        "-m",
        "fuzz",
        *args,
        env={"TICKSTORM_FUZZ_EXAMPLES": examples},
    )


@nox.session
def load(session: nox.Session) -> None:
    """The load campaign with Locust: acceptance at 500 subscribers, then the knees by subscribers and by
    replay speed; writes runs/load-baseline-*/ and reports/baselines/load-knee.json (5-10 minutes).
    Extra arguments go to `tickstorm load-baseline` (e.g. `-- --runs acceptance_x1_500`)."""
    session.install("-e", ".[load]")
    session.run("tickstorm", "load-baseline", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks; measured figures are printed and written to reports/baselines/."""
    session.install("-e", ".[test,bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=False)
def dev(session: nox.Session) -> None:
    """Install tickstorm (editable, with the test and lint tools) into .venv, creating it if needed;
    then `source .venv/bin/activate` puts `tickstorm`, `pytest`, `ruff` and `mypy` on PATH."""
    python = DEV_VENV / "bin" / "python"
    if not python.exists():
        session.run(sys.executable, "-m", "venv", str(DEV_VENV), external=True)
    session.run(str(python), "-m", "pip", "install", "-e", ".[test,lint]", external=True)
    session.log(f"tickstorm is {DEV_VENV / 'bin' / 'tickstorm'}; `source .venv/bin/activate` puts it on PATH")
