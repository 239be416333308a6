"""Every scenario file in this folder, collected by pytest (``pytest scenarios -n auto``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.runner import run_scenario
from harness.scenario import load_scenario, scenario_files

HERE = Path(__file__).parent
SEED = int(os.environ.get("TICKSTORM_SEED", "1"))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("path", scenario_files([HERE]), ids=lambda p: p.stem)
async def test_scenario(path: Path) -> None:
    result = await run_scenario(load_scenario(path), SEED)
    failed = [f"{v.check}: {v.summary} {v.evidence}" for v in result.failed()]
    assert result.ok, f"{result.error or ''} {failed} -- rerun: {result.rerun()}"
