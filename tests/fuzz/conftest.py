"""Fuzz suite fixtures: time each test against the decoder it feeds, report the inputs tried."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import checkout_guard
from tests.fuzz import support

SUMMARY = Path("runs/fuzz/summary.json")


def pytest_configure(config: pytest.Config) -> None:
    """The nightly run's summary in runs/fuzz/ is its output, not a stray write of a test."""
    if support.NIGHTLY:
        checkout_guard.allow(config, SUMMARY.parts[1])


@pytest.fixture(autouse=True)
def _time_decoder() -> Iterator[None]:
    """Charge the test's wall time to the decoder(s) it counted inputs for."""
    before = dict(support.COUNTS)
    started = time.monotonic()
    yield
    fed = [name for name, n in support.COUNTS.items() if n != before.get(name, 0)]
    for name in fed:
        support.timed_add(name, started)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The nightly run (``TICKSTORM_FUZZ_EXAMPLES`` set) writes the measured counts to runs/fuzz/."""
    if support.NIGHTLY:
        support.write_summary(SUMMARY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print inputs tried per decoder (in this process; xdist workers keep their own)."""
    if not support.COUNTS:
        return
    terminalreporter.section("fuzz: inputs tried per decoder")
    for name, n in sorted(support.COUNTS.items()):
        terminalreporter.write_line(f"{name:<28} {n:>9,} inputs  {support.SECONDS[name]:8.1f} s")
