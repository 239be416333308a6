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

from feed.config import VENUE_OPTIONS
from harness.checks.expect import Expect
from mock_venues import registry as venue_registry
from mock_venues.recordings import BUNDLED, BUNDLED_FORMATS

if TYPE_CHECKING:
    from harness.stack import StackBase as Stack

TOXIC_TYPES = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "noop")
VENUE_FAULTS = ("drop", "duplicate", "reorder", "corrupt", "silence", "refuse_subscribe")
PROXIES = ("ws", "rest")
ALL_VENUES = "*"
"""The venue of a fault that touches every venue (the feed process itself)."""


class ScenarioError(ValueError):
    """A scenario file or parameter that cannot be run (the message names the scenario and the problem)."""


@dataclass(frozen=True)
class Action:
    """One thing a timeline step does; ``fault`` names the fault it starts (None for healing steps).

    ``venue`` is the venue instance the fault touches (None: the scenario's first venue; ``"*"``: every
    venue, e.g. a fault of the feed process)."""

    name: str
    run: Callable[[Stack], Awaitable[None]]
    fault: str | None = None
    heals: str | None = None  # the fault this step ends ("*" = every fault)
    needs_processes: bool = False  # acts on the feed process (multi-process mode only)
    venue: str | None = None
    venue_fault_kind: str | None = None  # one of the venue's own faults (checked against its class)


@dataclass(frozen=True)
class Step:
    """``action`` at ``at_s`` seconds after the replay starts."""

    at_s: float
    action: Action


def at(seconds: float, action: Action) -> Step:
    """A timeline step."""
    return Step(float(seconds), action)


def _check_proxy(proxy: str) -> None:
    if proxy not in PROXIES:
        raise ScenarioError(f"unknown proxy {proxy!r} (known: {', '.join(PROXIES)})")


def _on(venue: str | None) -> str:
    """The prefix that names the venue of a fault (none for the scenario's first venue)."""
    return f"{venue}/" if venue else ""


def toxic(
    proxy: str,
    kind: str,
    stream: str = "downstream",
    toxicity: float = 1.0,
    *,
    venue: str | None = None,
    **attributes: Any,
) -> Action:
    """Add a Toxiproxy toxic to a venue's ``ws`` or ``rest`` proxy (the first venue's unless ``venue``
    names another); the fault is named ``[<venue>/]<proxy>:<kind>_<stream>``."""
    _check_proxy(proxy)
    if kind not in TOXIC_TYPES:
        raise ScenarioError(f"unknown toxic {kind!r} (known: {', '.join(TOXIC_TYPES)})")
    name = f"{_on(venue)}{proxy}:{kind}_{stream}"

    async def run(stack: Stack) -> None:
        await stack.add_toxic(proxy, kind, stream, toxicity, attributes, venue=venue)

    return Action(name, run, fault=name, venue=venue)


def clear(proxy: str, *, venue: str | None = None) -> Action:
    """Remove every toxic of a venue's proxy."""
    _check_proxy(proxy)

    async def run(stack: Stack) -> None:
        await stack.clear_toxics(proxy, venue=venue)

    return Action(f"{_on(venue)}{proxy}:clear", run, heals=f"{_on(venue)}{proxy}:", venue=venue)


def proxy_down(proxy: str, *, venue: str | None = None) -> Action:
    """Disable a venue's proxy: its listener closes and every connection through it drops."""
    _check_proxy(proxy)
    name = f"{_on(venue)}{proxy}-down"  # not "ws:...": clear("ws") must not heal it

    async def run(stack: Stack) -> None:
        await stack.set_enabled(proxy, False, venue=venue)

    return Action(name, run, fault=name, venue=venue)


def proxy_up(proxy: str, *, venue: str | None = None) -> Action:
    """Enable a venue's proxy again."""
    _check_proxy(proxy)

    async def run(stack: Stack) -> None:
        await stack.set_enabled(proxy, True, venue=venue)

    return Action(f"{_on(venue)}{proxy}-up", run, heals=f"{_on(venue)}{proxy}-down", venue=venue)


def venue_fault(kind: str, stream: str | None = None, *, venue: str | None = None, **params: Any) -> Action:
    """A venue fault. The per-message ones (see ``mock_venues.base.faults``: drop, duplicate, reorder,
    corrupt, silence, refuse_subscribe) act on ``stream``; any other ``kind`` is one of the venue's own
    faults (``venue_fault_kinds`` of its class, the control API's ``POST /venue-fault``), with ``params``
    as the venue documents them. Named ``[<venue>/]venue:<kind>[:<stream>]``; :func:`venue_heal` ends it."""
    if kind not in VENUE_FAULTS:
        name = f"{_on(venue)}venue:{kind}"

        async def own(stack: Stack) -> None:
            await _maybe_await(stack.venue_control(venue).venue_fault(kind, **params))

        return Action(name, own, fault=name, venue=venue, venue_fault_kind=kind)
    if stream is None:
        raise ScenarioError(f"venue fault {kind!r} needs the stream it acts on")
    name = f"{_on(venue)}venue:{kind}:{stream}"

    async def run(stack: Stack) -> None:
        await _maybe_await(stack.venue_control(venue).add_fault(kind, stream=stream, **params))

    return Action(name, run, fault=name, venue=venue)


def venue_heal(*, venue: str | None = None) -> Action:
    """Clear a venue's message and REST faults; ends the windows of every ``venue:`` fault of that venue
    (a one-shot fault of the venue's own, e.g. refused logins, is over once it acted: this step says when
    the scenario considers it over, so the recovery check measures from here)."""

    async def run(stack: Stack) -> None:
        await _maybe_await(stack.venue_control(venue).clear_faults())

    return Action(f"{_on(venue)}venue:heal", run, heals=f"{_on(venue)}venue:", venue=venue)


def venue_call(
    name: str, call: Callable[[Any], Any], *, fault: bool = True, venue: str | None = None
) -> Action:
    """Any venue control call (``lambda venue: venue.insert_gap("BTCUSDT", 5)``)."""

    async def run(stack: Stack) -> None:
        await _maybe_await(call(stack.venue_control(venue)))

    full = f"{_on(venue)}venue:{name}"
    return Action(full, run, fault=full if fault else None, venue=venue)


async def _maybe_await(result: Any) -> None:
    """Venue calls are plain calls in-process and coroutines over the control API: accept both."""
    if hasattr(result, "__await__"):
        await result


def feed_pause() -> Action:
    """SIGSTOP the feed process (a long GC pause or a descheduled VM): it neither reads nor sends."""

    async def run(stack: Stack) -> None:
        await stack.pause_feed()

    return Action("feed-paused", run, fault="feed-paused", needs_processes=True, venue=ALL_VENUES)


def feed_continue() -> Action:
    """SIGCONT the paused feed process."""

    async def run(stack: Stack) -> None:
        await stack.continue_feed()

    return Action("feed-continued", run, heals="feed-paused", needs_processes=True)


def venue_pause(*, venue: str | None = None) -> Action:
    """SIGSTOP a venue process: its sender stalls while the intended send times keep running."""

    async def run(stack: Stack) -> None:
        await stack.pause_venue(venue)

    name = f"{_on(venue)}venue-paused"
    return Action(name, run, fault=name, needs_processes=True, venue=venue)


def venue_continue(*, venue: str | None = None) -> Action:
    """SIGCONT the paused venue process (it then sends everything it owes at once)."""

    async def run(stack: Stack) -> None:
        await stack.continue_venue(venue)

    name = f"{_on(venue)}venue-continued"
    return Action(name, run, heals=f"{_on(venue)}venue-paused", needs_processes=True, venue=venue)


def feed_kill() -> Action:
    """SIGKILL the feed process: no clean shutdown, only what is on disk survives (journal, DLQ)."""

    async def run(stack: Stack) -> None:
        await stack.kill_feed()

    return Action("feed-killed", run, fault="feed-killed", needs_processes=True, venue=ALL_VENUES)


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
class VenueSpec:
    """One venue of a scenario: which mock venue (and feed adapter) runs, under which instance name, what it
    replays and which streams the feed takes from it."""

    venue: str = "binance-spot"  # the registry name of the mock venue and of the feed adapter
    name: str | None = None  # the instance name (default: the venue); instruments are <name>:<symbol>
    recording: str | None = None  # a bundled recording set (default: the venue's own default)
    symbols: list[str] | None = None  # default: the scenario's
    streams: list[str] | None = None  # default: the scenario's
    options: dict[str, Any] = field(default_factory=dict)  # extra mock venue config (VenueConfig fields)
    feed: dict[str, Any] = field(default_factory=dict)  # this venue's feed options (feed.config.VenueOptions)

    @property
    def instance(self) -> str:
        """The instance name."""
        return self.name or self.venue


@dataclass
class Scenario:
    """One scenario: replay, timeline of faults, bounds.

    With one venue (the default: Binance spot) its recording, symbols, streams and mock venue options are
    the top-level fields; ``venues`` lists several (each a :class:`VenueSpec`; unset fields take the
    scenario's). ``feed`` holds feed options: feed-wide ones, and venue options that apply to every venue.
    """

    name: str
    description: str
    recording: str | None = None  # a bundled recording set (default: each venue's own default)
    speed: float = 20.0
    fanout: int = 1
    symbols: list[str] = field(default_factory=lambda: ["btcusdt"])
    streams: list[str] = field(default_factory=lambda: ["trade", "aggTrade", "depth@100ms", "bookTicker"])
    duration_s: float = 6.0
    timeline: list[Step] = field(default_factory=list)
    sla: SLA = field(default_factory=SLA)
    venue: dict[str, Any] = field(default_factory=dict)  # extra VenueConfig fields (single-venue form)
    feed: dict[str, Any] = field(default_factory=dict)  # extra FeedSettings fields
    venues: list[VenueSpec] = field(default_factory=list)
    expect_dlq: bool = False  # frames are corrupted on purpose: the DLQ check applies
    memory_check: bool = False  # a soak: the feed process's RSS slope after warm-up is checked
    expect: list[Expect] = field(default_factory=list)  # events the feed must (or must not) have delivered
    path: Path | None = None

    def venue_specs(self) -> list[VenueSpec]:
        """Every venue of the run, every field resolved."""
        specs = self.venues or [VenueSpec(recording=self.recording, options=dict(self.venue))]
        shared = {k: v for k, v in self.feed.items() if k in VENUE_OPTIONS}
        return [
            VenueSpec(
                venue=s.venue,
                name=s.instance,
                recording=s.recording or self.recording or _default_recording(s.venue),
                symbols=list(s.symbols if s.symbols is not None else self.symbols),
                streams=list(s.streams if s.streams is not None else self.streams),
                options=dict(s.options),
                feed={**shared, **s.feed},
            )
            for s in specs
        ]

    def feed_options(self) -> dict[str, Any]:
        """The feed-wide options of ``feed`` (venue options go to each venue)."""
        return {k: v for k, v in self.feed.items() if k not in VENUE_OPTIONS}

    def validate(self) -> None:
        """Raise ScenarioError for parameters that cannot run."""
        where = f"scenario {self.name!r}"
        names = [s.instance for s in self.venues]
        if len(names) != len(set(names)):
            raise ScenarioError(f"{where}: venue instance names must be unique (give each a name): {names}")
        for spec in self.venue_specs():
            try:
                cls = venue_registry.venue_class(spec.venue)
            except venue_registry.UnknownVenue as exc:
                raise ScenarioError(f"{where}: {exc}") from None
            recording = spec.recording or cls.default_recording
            if recording not in BUNDLED:
                raise ScenarioError(
                    f"{where}: unknown recording set {recording!r} (known: {sorted(BUNDLED)})"
                )
            if BUNDLED_FORMATS[recording] not in cls.recording_formats:
                raise ScenarioError(
                    f"{where}: recording set {recording!r} is a {BUNDLED_FORMATS[recording]} recording, "
                    f"which the {spec.venue} venue does not read"
                )
        if not 0.1 <= self.speed <= 100:
            raise ScenarioError(f"{where}: speed {self.speed} outside 0.1..100")
        if self.duration_s <= 0 or self.fanout < 1:
            raise ScenarioError(f"{where}: duration_s must be > 0 and fanout >= 1")
        instances = {s.instance for s in self.venue_specs()} | {ALL_VENUES}
        names0 = self.venue_specs()[0].instance
        for step in self.timeline:
            if not isinstance(step, Step):
                raise ScenarioError(f"{where}: timeline entries must be at(seconds, action), got {step!r}")
            if step.action.venue is not None and step.action.venue not in instances:
                raise ScenarioError(
                    f"{where}: step {step.action.name} names venue {step.action.venue!r}, which the scenario "
                    f"does not run (its venues: {', '.join(sorted(instances - {ALL_VENUES}))})"
                )
            kind = step.action.venue_fault_kind
            if kind is not None:
                target = step.action.venue or names0
                found = next((s for s in self.venue_specs() if s.instance == target), None)
                known = venue_registry.venue_class(found.venue).venue_fault_kinds if found else ()
                if kind not in known:
                    raise ScenarioError(
                        f"{where}: step {step.action.name}: venue {target!r} has no fault {kind!r} "
                        f"(its own: {', '.join(known) or 'none'}; per-message: {', '.join(VENUE_FAULTS)})"
                    )
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


def _default_recording(venue: str) -> str | None:
    """The venue's own default recording set (None for an unknown venue: validation names it)."""
    try:
        return venue_registry.venue_class(venue).default_recording
    except venue_registry.UnknownVenue:
        return None


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
