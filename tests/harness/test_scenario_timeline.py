"""Timeline bookkeeping: which step heals which fault, and seeded jitter."""

from __future__ import annotations

from typing import Any

import pytest

from harness.runner import _play
from harness.scenario import Scenario, ScenarioError, VenueSpec, at, clear, proxy_down, proxy_up, toxic


class FakeStack:
    """Accepts every action without doing anything."""

    async def add_toxic(self, *args: Any, venue: str | None = None) -> None:
        return None

    async def clear_toxics(self, proxy: str, venue: str | None = None) -> None:
        return None

    async def set_enabled(self, proxy: str, enabled: bool, venue: str | None = None) -> None:
        return None


async def test_clear_heals_toxics_of_its_proxy_only_and_up_heals_down() -> None:
    scenario = Scenario(
        name="t",
        description="",
        duration_s=0.05,
        timeline=[
            at(0.0, toxic("ws", "latency", latency=10)),
            at(0.0, toxic("rest", "latency", latency=10)),
            at(0.0, proxy_down("ws")),
            at(0.01, clear("ws")),
            at(0.02, proxy_up("ws")),
        ],
    )
    import time

    windows = await _play(FakeStack(), scenario, seed=1, t0=time.monotonic_ns())  # type: ignore[arg-type]
    by_name = {w.name: w for w in windows}
    assert by_name["ws:latency_downstream"].end_ns is not None
    assert by_name["rest:latency_downstream"].end_ns is None  # only the final heal ends it
    down = by_name["ws-down"]
    assert down.end_ns is not None and down.end_ns > by_name["ws:latency_downstream"].end_ns


def test_jitter_is_reproducible_and_bounded() -> None:
    scenario = Scenario(name="t", description="", timeline=[at(2.0, clear("ws")), at(4.0, clear("rest"))])
    first, again, other = scenario.jittered(5), scenario.jittered(5), scenario.jittered(6)
    assert [s.at_s for s in first] == [s.at_s for s in again] != [s.at_s for s in other]
    assert all(abs(s.at_s - base) <= base * 0.05 + 1e-9 for s, base in zip(first, (2.0, 4.0), strict=True))


async def test_faults_name_their_venue_and_heal_only_there() -> None:
    import time

    scenario = Scenario(
        name="t",
        description="",
        duration_s=0.05,
        venues=[VenueSpec(name="a"), VenueSpec(name="b")],
        timeline=[
            at(0.0, toxic("ws", "latency", venue="b", latency=10)),
            at(0.0, toxic("ws", "latency", latency=10)),  # the first venue's
            at(0.01, clear("ws", venue="b")),
        ],
    )
    scenario.validate()
    windows = await _play(FakeStack(), scenario, seed=1, t0=time.monotonic_ns())  # type: ignore[arg-type]
    by_name = {w.name: w for w in windows}
    assert (
        by_name["b/ws:latency_downstream"].end_ns is not None
        and by_name["b/ws:latency_downstream"].venue == "b"
    )
    assert by_name["ws:latency_downstream"].end_ns is None and by_name["ws:latency_downstream"].venue == ""


def test_a_step_naming_a_venue_the_scenario_does_not_run_is_refused() -> None:
    scenario = Scenario(
        name="t",
        description="",
        venues=[VenueSpec(name="a")],
        timeline=[at(1.0, proxy_down("ws", venue="zz"))],
    )
    with pytest.raises(ScenarioError, match=r"names venue 'zz'.*its venues: a"):
        scenario.validate()
    with pytest.raises(ScenarioError, match="unknown venue 'nope'"):
        Scenario(name="t", description="", venues=[VenueSpec(venue="nope")]).validate()
    with pytest.raises(ScenarioError, match="must be unique"):
        Scenario(name="t", description="", venues=[VenueSpec(), VenueSpec()]).validate()
