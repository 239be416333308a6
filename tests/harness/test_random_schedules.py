"""Hypothesis generates whole fault schedules from the fault kinds; every one must leave the feed correct.

CI runs a bounded number of examples (TICKSTORM_HYPOTHESIS_EXAMPLES, default 4); a nightly job can raise it.
A failure is shrunk to the smallest schedule that still breaks the feed and printed with its seed.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.runner import run_scenario
from harness.scenario import Action, Scenario, Step, at, clear, proxy_down, proxy_up, toxic, venue_fault

EXAMPLES = int(os.environ.get("TICKSTORM_HYPOTHESIS_EXAMPLES", "4"))
DURATION_S = 4.0


def _fault(kind: str) -> list[Action]:
    """A fault and, where it needs one, the step that heals it."""
    if kind == "reset":
        return [toxic("ws", "reset_peer", timeout=0), clear("ws")]
    if kind == "latency":
        return [toxic("ws", "latency", latency=150, jitter=50), clear("ws")]
    if kind == "slicer":
        return [toxic("ws", "slicer", average_size=50, size_variation=20, delay=10), clear("ws")]
    if kind == "down":
        return [proxy_down("ws"), proxy_up("ws")]
    if kind == "rest_down":
        return [proxy_down("rest"), proxy_up("rest")]
    return [venue_fault(kind, "btcusdt@" + ("trade" if kind != "corrupt" else "aggTrade"), count=2)]


KINDS = ("reset", "latency", "slicer", "down", "rest_down", "drop", "duplicate", "reorder", "corrupt")


@st.composite
def schedules(draw: st.DrawFn) -> list[Step]:
    steps: list[Step] = []
    for kind in draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=3, unique=True)):
        start = draw(st.floats(0.3, 2.0))
        actions = _fault(kind)
        steps.append(at(round(start, 2), actions[0]))
        if len(actions) > 1:
            steps.append(at(round(start + draw(st.floats(0.2, 1.0)), 2), actions[1]))
    return steps


@pytest.mark.timeout(600)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(schedule=schedules(), seed=st.integers(1, 10_000))
def test_random_fault_schedules_keep_the_feed_correct(schedule: list[Step], seed: int) -> None:
    scenario = Scenario(
        name="random schedule",
        description=", ".join(f"{s.at_s}s {s.action.name}" for s in schedule),
        duration_s=DURATION_S,
        expect_dlq=any("corrupt" in s.action.name for s in schedule),
        timeline=schedule,
    )
    result = asyncio.run(run_scenario(scenario, seed))
    failed = [f"{v.check}: {v.summary}" for v in result.failed()]
    assert result.ok, f"schedule [{scenario.description}] seed {seed}: {failed}"
