"""Run a scenario: start the stack, play the fault timeline, heal, let the feed settle, run the checkers.

``run_scenario(scenario, seed)`` returns a :class:`ScenarioResult` with every verdict and the figures a
report needs. ``tickstorm run`` (:mod:`reports.run_cli`) runs scenario files and renders the reports.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks.verdict import Verdict
from harness.evaluate import evaluate, figures
from harness.measure import measure
from harness.process_stack import ProcessStack
from harness.rundata import FaultWindow, RunData
from harness.scenario import Scenario
from harness.sla import SLAConfig, load_sla
from harness.stack import Stack, StackBase

DEFAULT_SEED = 1
MODES = ("auto", "processes", "in-process")


@dataclass
class ScenarioResult:
    """Everything one run produced."""

    name: str
    path: str
    seed: int
    proxy_kind: str
    mode: str = "?"
    verdicts: list[Verdict] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    faults: list[FaultWindow] = field(default_factory=list)
    error: str | None = None
    measurements: dict[str, Any] = field(default_factory=dict)  # see harness.measure
    scenario: Scenario | None = None
    run: RunData | None = None  # the gathered histories (only with run_scenario(keep_run=True))

    @property
    def ok(self) -> bool:
        """Every verdict passed and nothing crashed."""
        return self.error is None and all(v.ok for v in self.verdicts)

    def rerun(self) -> str:
        """The command that reruns this scenario identically."""
        mode = " --mode in-process" if self.mode == "in-process" else ""
        return f"tickstorm run {self.path} --seed {self.seed}{mode}"

    def failed(self) -> list[Verdict]:
        """The verdicts that failed."""
        return [v for v in self.verdicts if not v.ok]


def stack_mode(scenario: Scenario, mode: str) -> str:
    """The stack a scenario runs on: ``auto`` is in-process unless a step needs the feed's own process."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
    if scenario.needs_processes:
        return "processes"
    return "in-process" if mode == "auto" else mode


async def run_scenario(
    scenario: Scenario,
    seed: int = DEFAULT_SEED,
    *,
    mode: str = "auto",
    sla: SLAConfig | None = None,
    stack_type: type[StackBase] | None = None,
    keep_run: bool = False,
    judge_latency: bool = False,
) -> ScenarioResult:
    """Run one scenario end to end: start the stack, play the timeline, heal, settle, check.

    ``stack_type`` replaces the stack the mode picks (tests use it to run a deliberately broken one);
    ``keep_run`` keeps the gathered histories on the result (``result.run``); ``judge_latency`` adds the
    latency SLA verdicts (the command line does; test suites measure latency but do not judge it).
    """
    sla = sla or load_sla()
    chosen = stack_mode(scenario, mode)
    with tempfile.TemporaryDirectory(prefix="tickstorm-") as tmp:
        stack_type = stack_type or (ProcessStack if chosen == "processes" else Stack)
        stack = stack_type(scenario, seed, Path(tmp))
        result = ScenarioResult(scenario.name, str(scenario.path or scenario.name), seed, "?", chosen)
        result.scenario = scenario
        async with stack:
            result.proxy_kind = stack.endpoint.kind if stack.endpoint else "?"
            t0 = time.monotonic_ns()
            await stack.start_replay()
            result.faults = await _play(stack, scenario, seed, t0)
            healed_in_timeline = [w for w in result.faults if w.end_ns is not None]
            await stack.heal_everything()
            heal_ns = time.monotonic_ns()
            for window in result.faults:
                window.end_ns = window.end_ns or heal_ns
            await stack.settle()
            run = await stack.gather(t0)
            result.verdicts = evaluate(
                run, scenario, sla, result.faults, healed_in_timeline, judge_latency=judge_latency
            )
            result.figures = figures(run, (time.monotonic_ns() - t0) / 1e9, warmup_s=sla.memory.warmup_s)
            result.measurements = measure(
                run,
                result.faults,
                interval_s=0.5 if scenario.duration_s <= 20 else 1.0,
                rss_by_process=run.rss_by_process or None,
            )
            if keep_run:
                result.run = run
        return result


async def _play(stack: StackBase, scenario: Scenario, seed: int, t0: int) -> list[FaultWindow]:
    windows: list[FaultWindow] = []
    for step in scenario.jittered(seed):
        delay = t0 / 1e9 + step.at_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        began = time.monotonic_ns()  # a fault may act before its API call returns: its window opens here
        await step.action.run(stack)
        now = time.monotonic_ns()  # ...and a heal is certain only once its call returned
        if step.action.fault:
            windows.append(FaultWindow(step.action.fault, began, venue=step.action.venue or ""))
        if step.action.heals:
            for window in windows:
                if window.end_ns is None and window.name.startswith(step.action.heals.rstrip("*")):
                    window.end_ns = now
    remaining = t0 / 1e9 + scenario.duration_s - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)
    return windows
