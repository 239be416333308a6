"""Every scenario file in this folder, collected by pytest (``pytest scenarios -n auto``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.runner import run_scenario
from harness.scenario import load_scenario, scenario_files

HERE = Path(__file__).parent
SEED = int(os.environ.get("TICKSTORM_SEED", "1"))


BASE_TIMEOUT_S = 120  # start, settle and judge a scenario on a loaded 2-core CI machine


def _case(path: Path) -> object:
    """One scenario as a test case, its time bound grown with its own duration (the soak runs 60 s)."""
    try:
        duration_s = load_scenario(path).duration_s
    except Exception:  # a broken file fails in the test itself, with the loader's message
        duration_s = 0.0
    return pytest.param(path, id=path.stem, marks=pytest.mark.timeout(BASE_TIMEOUT_S + int(2 * duration_s)))


@pytest.mark.parametrize("path", [_case(p) for p in scenario_files([HERE])])
async def test_scenario(path: Path) -> None:
    result = await run_scenario(load_scenario(path), SEED)
    failed = [f"{v.check}: {v.summary} {v.evidence}" for v in result.failed()]
    assert result.ok, f"{result.error or ''} {failed} -- rerun: {result.rerun()}"
