"""A test session must not write into the checkout's ``runs/`` (tests write under tmp paths only).

The hooks (imported by tests/conftest.py) list ``<rootdir>/runs`` when the session starts and when it
finishes, and fail the session naming every new entry. Under xdist only the controller checks, once every
worker has finished, so a worker never sees another's half-done state. pytest's own ``--junitxml`` file is
allowed there (the nox CI session writes ``runs/junit-tests.xml``), and so is what a session declares as its
output with :func:`allow` (the nightly fuzz summary, ``runs/fuzz/``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

_BEFORE = pytest.StashKey[set[str]]()
_ALLOWED = pytest.StashKey[set[str]]()


def allow(config: pytest.Config, name: str) -> None:
    """Declare ``runs/<name>`` an output of this session (not a stray write)."""
    config.stash.setdefault(_ALLOWED, set()).add(name)


def _runs(config: pytest.Config) -> Path:
    return config.rootpath / "runs"


def _entries(runs: Path) -> set[str]:
    return {p.name for p in runs.iterdir()} if runs.is_dir() else set()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Note what ``runs/`` holds before any test runs (controller or single process only)."""
    if not hasattr(session.config, "workerinput"):
        session.config.stash[_BEFORE] = _entries(_runs(session.config))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the session when a test left something new in ``runs/``."""
    config = session.config
    before = config.stash.get(_BEFORE, None)
    if before is None:
        return
    runs = _runs(config)
    allowed = set(config.stash.get(_ALLOWED, set()))
    xml = getattr(config.option, "xmlpath", None)
    if xml and Path(xml).resolve().parent == runs.resolve():
        allowed.add(Path(xml).name)
    new = sorted(_entries(runs) - before - allowed)
    if not new:
        return
    message = f"the test session wrote into {runs} (tests must write under tmp paths): {', '.join(new)}"
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")  # after the progress dots
        reporter.write_sep("!", message, red=True, bold=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
