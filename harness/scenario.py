"""What a scenario file declares: what is replayed, what breaks when, and what must hold.

A scenario is a plain Python file that builds one ``SCENARIO = Scenario(...)``. The timeline is a list of
``at(seconds, action)`` steps; actions are small objects with a ``name`` that act on the running stack
(toxics through the Toxiproxy API, venue faults through the venue's control calls). ``load_scenario``
imports a file and validates it, raising :class:`ScenarioError` with a one-line message on any problem.
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mock_venues.recordings import BUNDLED

if TYPE_CHECKING:
    from harness.stack import StackBase as Stack

TOXIC_TYPES = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "noop")
VENUE_FAULTS = ("drop", "duplicate", "reorder", "corrupt", "silence", "refuse_subscribe")
PROXIES = ("ws", "rest")


class ScenarioError(ValueError):
    """A scenario file or parameter that cannot be run (the message names the scenario and the problem)."""


@dataclass(frozen=True)
class Action:
    """One thing a timeline step does; ``fault`` names the fault it starts (None for healing steps)."""

    name: str
    run: Callable[[Stack], Awaitable[None]]
    fault: str | None = None
    heals: str | None = None  # the fault this step ends ("*" = every fault)
    needs_processes: bool = False  # acts on the feed process (multi-process mode only)


@dataclass(frozen=True)
class Step:
    """``action`` at ``at_s`` seconds after the replay starts."""

    at_s: float
    action: Action


def at(seconds: float, action: Action) -> Step:
    """A timeline step."""
    return Step(float(seconds), action)


def toxic(
    proxy: str, kind: str, stream: str = "downstream", toxicity: float = 1.0, **attributes: Any
) -> Action:
    """Add a Toxiproxy toxic to the ``ws`` or ``rest`` proxy (named ``<kind>_<stream>``)."""
    if proxy not in PROXIES:
        raise ScenarioError(f"unknown proxy {proxy!r} (known: {', '.join(PROXIES)})")
    if kind not in TOXIC_TYPES:
        raise ScenarioError(f"unknown toxic {kind!r} (known: {', '.join(TOXIC_TYPES)})")
    name = f"{proxy}:{kind}_{stream}"

    async def run(stack: Stack) -> None:
        await stack.add_toxic(proxy, kind, stream, toxicity, attributes)

    return Action(name, run, fault=name)


def clear(proxy: str) -> Action:
    """Remove every toxic of a proxy."""
    if proxy not in PROXIES:
        raise ScenarioError(f"unknown proxy {proxy!r} (known: {', '.join(PROXIES)})")

    async def run(stack: Stack) -> None:
        await stack.clear_toxics(proxy)

    return Action(f"{proxy}:clear", run, heals=f"{proxy}:")


def proxy_down(proxy: str) -> Action:
    """Disable a proxy: its listener closes and every connection through it drops (venue unreachable)."""

    async def run(stack: Stack) -> None:
        await stack.set_enabled(proxy, False)

    return Action(f"{proxy}-down", run, fault=f"{proxy}-down")  # not "ws:...": clear("ws") must not heal it


def proxy_up(proxy: str) -> Action:
    """Enable a proxy again."""

    async def run(stack: Stack) -> None:
        await stack.set_enabled(proxy, True)

    return Action(f"{proxy}-up", run, heals=f"{proxy}-down")


def venue_fault(kind: str, stream: str, **params: Any) -> Action:
    """A per-message venue fault (see ``mock_venues.faults``): drop, duplicate, reorder, corrupt, ..."""
    if kind not in VENUE_FAULTS:
        raise ScenarioError(f"unknown venue fault {kind!r} (known: {', '.join(VENUE_FAULTS)})")
    name = f"venue:{kind}:{stream}"

    async def run(stack: Stack) -> None:
        await _maybe_await(stack.venue.add_fault(kind, stream=stream, **params))

    return Action(name, run, fault=name)


def venue_call(name: str, call: Callable[[Any], Any], *, fault: bool = True) -> Action:
    """Any venue control call (``lambda venue: venue.insert_gap("BTCUSDT", 5)``)."""

    async def run(stack: Stack) -> None:
        await _maybe_await(call(stack.venue))

    return Action(f"venue:{name}", run, fault=f"venue:{name}" if fault else None)


async def _maybe_await(result: Any) -> None:
    """Venue calls are plain calls in-process and coroutines over the control API: accept both."""
    if hasattr(result, "__await__"):
        await result


def feed_pause() -> Action:
    """SIGSTOP the feed process (a long GC pause or a descheduled VM): it neither reads nor sends."""

    async def run(stack: Stack) -> None:
        await stack.pause_feed()

    return Action("feed-paused", run, fault="feed-paused", needs_processes=True)


def feed_continue() -> Action:
    """SIGCONT the paused feed process."""

    async def run(stack: Stack) -> None:
        await stack.continue_feed()

    return Action("feed-continued", run, heals="feed-paused", needs_processes=True)


def venue_pause() -> Action:
    """SIGSTOP the venue process: its sender stalls while the intended send times keep running."""

    async def run(stack: Stack) -> None:
        await stack.pause_venue()

    return Action("venue-paused", run, fault="venue-paused", needs_processes=True)


def venue_continue() -> Action:
    """SIGCONT the paused venue process (it then sends everything it owes at once)."""

    async def run(stack: Stack) -> None:
        await stack.continue_venue()

    return Action("venue-continued", run, heals="venue-paused", needs_processes=True)


def feed_kill() -> Action:
    """SIGKILL the feed process: no clean shutdown, only what is on disk survives (journal, DLQ)."""

    async def run(stack: Stack) -> None:
        await stack.kill_feed()

    return Action("feed-killed", run, fault="feed-killed", needs_processes=True)


def feed_restart() -> Action:
    """Start the killed feed again, resuming from its journal (missed ids are backfilled or reported)."""

    async def run(stack: Stack) -> None:
        await stack.restart_feed()

    return Action("feed-restarted", run, heals="feed-killed", needs_processes=True)


@dataclass(frozen=True)
class SLA:
    """Bounds this scenario sets for itself; None takes the SLA config's (harness/sla.toml)."""

    latency_p99_ms: float | None = None
    recovery_s: float | None = None
    rss_slope_mb_per_min: float | None = None


@dataclass
class Scenario:
    """One scenario: replay, timeline of faults, bounds."""

    name: str
    description: str
    recording: str = "spot-btcusdt"
    speed: float = 20.0
    fanout: int = 1
    symbols: list[str] = field(default_factory=lambda: ["btcusdt"])
    streams: list[str] = field(default_factory=lambda: ["trade", "aggTrade", "depth@100ms", "bookTicker"])
    duration_s: float = 6.0
    timeline: list[Step] = field(default_factory=list)
    sla: SLA = field(default_factory=SLA)
    venue: dict[str, Any] = field(default_factory=dict)  # extra VenueConfig fields
    feed: dict[str, Any] = field(default_factory=dict)  # extra FeedSettings fields
    expect_dlq: bool = False  # frames are corrupted on purpose: the DLQ check applies
    memory_check: bool = False  # a soak: the feed process's RSS slope after warm-up is checked
    path: Path | None = None

    def validate(self) -> None:
        """Raise ScenarioError for parameters that cannot run."""
        where = f"scenario {self.name!r}"
        if self.recording not in BUNDLED:
            raise ScenarioError(
                f"{where}: unknown recording set {self.recording!r} (known: {sorted(BUNDLED)})"
            )
        if not 0.1 <= self.speed <= 100:
            raise ScenarioError(f"{where}: speed {self.speed} outside 0.1..100")
        if self.duration_s <= 0 or self.fanout < 1:
            raise ScenarioError(f"{where}: duration_s must be > 0 and fanout >= 1")
        for step in self.timeline:
            if not isinstance(step, Step):
                raise ScenarioError(f"{where}: timeline entries must be at(seconds, action), got {step!r}")
            if not 0 <= step.at_s <= self.duration_s:
                raise ScenarioError(
                    f"{where}: step {step.action.name} at {step.at_s} s is outside 0..{self.duration_s}"
                )

    @property
    def needs_processes(self) -> bool:
        """Whether a step acts on the feed process (or a memory check needs the feed measured alone)."""
        return self.memory_check or any(step.action.needs_processes for step in self.timeline)

    def jittered(self, seed: int) -> list[Step]:
        """The timeline with each fault moved by up to ±5% of its time, reproducibly from ``seed``."""
        rng = random.Random(seed)
        out = [
            Step(round(max(0.0, s.at_s * (1 + rng.uniform(-0.05, 0.05))), 3), s.action) for s in self.timeline
        ]
        return sorted(out, key=lambda s: s.at_s)


def load_scenario(path: Path) -> Scenario:
    """Import a scenario file and return its validated ``SCENARIO``."""
    if not path.is_file():
        raise ScenarioError(f"{path}: no such scenario file")
    spec = importlib.util.spec_from_file_location(f"tickstorm_scenario_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ScenarioError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ScenarioError as exc:
        raise ScenarioError(f"{path.name}: {exc}") from None
    except Exception as exc:  # a broken scenario file must not crash the run: report it in one line
        raise ScenarioError(f"{path.name}: cannot load ({type(exc).__name__}: {exc})") from None
    scenario = getattr(module, "SCENARIO", None)
    if not isinstance(scenario, Scenario):
        raise ScenarioError(f"{path.name}: defines no SCENARIO = Scenario(...)")
    scenario.path = path
    try:
        scenario.validate()
    except ScenarioError as exc:
        raise ScenarioError(f"{path.name}: {exc}") from None
    return scenario


def scenario_files(paths: list[Path]) -> list[Path]:
    """Scenario files named on the command line (directories expand to their ``*.py``, helpers skipped)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.glob("*.py") if not p.name.startswith(("_", "test_", "conftest")))
        else:
            out.append(path)
    return out
