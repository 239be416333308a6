"""Locust ignores --run-time under a load shape; the knee shape honours it and the report says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.load.driver import LoadOptions, run_load

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


async def test_run_time_stops_the_plan_and_the_report_says_where_and_why(tmp_path: Path) -> None:
    report = await run_load(
        LoadOptions(
            run_dir=tmp_path / "run",
            plan="1x5,1x5,1x5,1x5",
            step_s=8.0,
            warmup_s=2.0,
            run_time_s=15.0,
            history=False,
        )
    )
    knee = report["knee"]
    assert knee["found"] is False and "last_good" not in knee
    assert knee["aborted"]["reason"].startswith("--run-time 15 s reached")
    assert knee["aborted"]["step"]["index"] < 3  # the plan did not run to its end
    assert 0 < len(report["steps"]) < 4
    assert report["duration_s"] < 15 + 60  # well inside the driver's own backstop
