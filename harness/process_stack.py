"""The same stack as :class:`harness.stack.Stack`, with every venue, the fault proxy and the feed each in its
own process: real CPU contention, process faults (SIGSTOP/SIGCONT, SIGKILL and restart) and the feed's
memory measured alone.

Each venue runs as ``tickstorm venue <name>`` and is driven through its control API (:class:`RemoteVenue`,
same method names as the in-process venue, so scenario code does not change). The feed is configured
through ``TICKSTORM_FEED_*`` environment variables (its venues as ``TICKSTORM_FEED_VENUES``), writes its
delivery journal (``--jsonl``) and DLQ to the run directory, and dumps its books and counters to a state
file on SIGUSR1 and on stop. A sampler records the feed process's RSS every
``RSS_INTERVAL_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import psutil

from harness.feed_history import read_feed_history
from harness.rundata import RunData, VenueRun
from harness.scenario import Scenario, ScenarioError, VenueSpec
from harness.stack import (
    SETTLE_MAX_S,
    SETTLE_QUIET_S,
    SUBSCRIBE_TIMEOUT_S,
    StackBase,
    dead_letters_of,
    wait_until,
)
from mock_venues import registry as venue_registry
from mock_venues.base.control_client import ControlError, RemoteVenue
from mock_venues.recordings import bundled
from tickstorm.procs import ServiceProcess

RSS_INTERVAL_S = 0.5
STATE_DUMP_TIMEOUT_S = 15.0  # a loaded machine (or a big heap) can take seconds

VENUE_FLAGS: dict[str, str] = {
    "max_connection_age_s": "--max-connection-age",
    "ping_interval_s": "--ping-interval",
    "pong_timeout_s": "--pong-timeout",
    "amplify": "--amplify",
}
"""Scenario ``venue={...}`` keys the venue command line takes (``loop`` is a switch)."""


def venue_command(scenario: Scenario, spec: VenueSpec, seed: int) -> list[str]:
    """``tickstorm venue <name>`` for one venue of this scenario (paused, free ports, loopback)."""
    recording = spec.recording or venue_registry.venue_class(spec.venue).default_recording
    cmd = [sys.executable, "-m", "tickstorm", "venue", spec.venue, "--port", "0", "--rest-port", "0"]
    cmd += ["--control-port", "0", "--paused", "--seed", str(seed), "--speed", str(scenario.speed)]
    cmd += ["--fanout", str(scenario.fanout)]
    for path in bundled(recording):
        cmd += ["--recording", str(path)]
    for key, value in spec.options.items():
        if key == "loop":
            cmd += ["--loop"] if value else []
        elif key in VENUE_FLAGS:
            cmd += [VENUE_FLAGS[key], str(value)]
        else:
            raise ScenarioError(
                f"scenario {scenario.name!r}: venue option {key!r} cannot be passed to a venue process "
                f"(known: loop, {', '.join(VENUE_FLAGS)})"
            )
    return cmd


def feed_environment(settings: dict[str, Any]) -> dict[str, str]:
    """The feed's settings as ``TICKSTORM_FEED_*`` variables (lists as JSON, booleans as true/false)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKSTORM_FEED_")}
    for key, value in settings.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | dict):
            text = orjson.dumps(value).decode()
        else:
            text = str(value)
        env[f"TICKSTORM_FEED_{key.upper()}"] = text
    return env


class ProcessStack(StackBase):
    """Venues, fault proxy and feed as processes (async context manager)."""

    mode = "processes"

    def __init__(self, scenario: Scenario, seed: int, workdir: Path) -> None:
        super().__init__(scenario, seed, workdir)
        self.venue_procs: dict[str, ServiceProcess] = {}
        self.feed_proc: ServiceProcess | None = None
        self.journal = workdir / "feed-journal.jsonl"
        self.state_path = workdir / "feed-state.json"
        self.dlq_path = workdir / "dlq.sqlite"
        self.rss: list[tuple[int, int]] = []  # the feed's (whichever process is the feed at the time)
        self.rss_by_process: dict[str, list[tuple[int, int]]] = {"feed": self.rss, "proxy": []}
        self.restarts = 0
        self._feed_env: dict[str, str] = {}
        self._stream_count = 0
        self._sampler: asyncio.Task[None] | None = None
        self._state_seq = 0

    async def _start(self) -> None:
        upstreams: dict[str, dict[str, str]] = {}
        for spec in self.specs:
            name = "venue" if len(self.specs) == 1 else f"venue {spec.instance}"
            proc = ServiceProcess(venue_command(self.scenario, spec, self.seed), name=name)
            await self._exit.enter_async_context(proc)
            self.venue_procs[spec.instance] = proc
            self.rss_by_process[name.replace(" ", ":")] = []
            ready = proc.ready
            self.venues[spec.instance] = await self._exit.enter_async_context(RemoteVenue(ready["control"]))
            upstreams[spec.instance] = {
                "ws": ready["ws"],
                **({"rest": ready["rest"]} if ready.get("rest") else {}),
            }
        listen = await self._proxy_in_front_of(upstreams, separate_process=True)
        settings = self.feed_settings(listen, dlq_path=str(self.dlq_path), jsonl=str(self.journal))
        self._feed_env = feed_environment(settings)
        self._exit.push_async_callback(self._stop_feed)
        await self._start_feed(resume=False)
        assert self.feed_proc is not None
        self._stream_count = int(self.feed_proc.ready["streams"])

        async def subscribed() -> bool:
            total = 0
            for venue in self.venues.values():
                state = await venue.state()
                total += sum(len(c["streams"]) for c in state["connections"].values())
            return total >= self._stream_count

        await wait_until(subscribed, SUBSCRIBE_TIMEOUT_S, "the feed did not subscribe its streams", 0.05)
        self._sampler = asyncio.create_task(self._sample_rss(), name="rss-sampler")
        self._exit.push_async_callback(self._stop_sampler)

    # -- the feed process ------------------------------------------------------------------------------

    async def _start_feed(self, *, resume: bool) -> None:
        cmd = [sys.executable, "-m", "tickstorm", "feed", "--state-out", str(self.state_path)]
        if resume:
            cmd.append("--resume")
        # A generous stop timeout: the final state dump (and its tracemalloc comparison, when on) runs then.
        self.feed_proc = ServiceProcess(cmd, name="feed", env=self._feed_env, stop_timeout_s=30.0)
        await self.feed_proc.start()

    async def _stop_feed(self) -> None:
        if self.feed_proc is not None:
            await self.feed_proc.stop()

    async def _sample_rss(self) -> None:
        while True:
            proc = self.feed_proc
            pids = {
                "feed": proc.pid if proc and proc.proc and proc.proc.returncode is None else None,
                "proxy": self.endpoint.pid if self.endpoint else None,
            }
            for instance, venue_proc in self.venue_procs.items():
                pids["venue" if len(self.venue_procs) == 1 else f"venue:{instance}"] = venue_proc.pid
            now = time.monotonic_ns()
            for name, pid in pids.items():
                if pid is not None:
                    with contextlib.suppress(psutil.Error):
                        self.rss_by_process[name].append((now, psutil.Process(pid).memory_info().rss))
            await asyncio.sleep(RSS_INTERVAL_S)

    async def _stop_sampler(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            await asyncio.gather(self._sampler, return_exceptions=True)
            self._sampler = None

    async def pause_feed(self) -> None:
        """SIGSTOP the feed process."""
        assert self.feed_proc is not None
        self.feed_proc.signal(signal.SIGSTOP)

    async def continue_feed(self) -> None:
        """SIGCONT the feed process."""
        assert self.feed_proc is not None
        self.feed_proc.signal(signal.SIGCONT)

    def _venue_proc(self, venue: str | None) -> ServiceProcess:
        instance = venue or self.specs[0].instance
        try:
            return self.venue_procs[instance]
        except KeyError:
            raise ValueError(
                f"no venue {instance!r} in this run (known: {', '.join(self.venue_procs)})"
            ) from None

    async def pause_venue(self, venue: str | None = None) -> None:
        """SIGSTOP a venue process."""
        self._venue_proc(venue).signal(signal.SIGSTOP)

    async def continue_venue(self, venue: str | None = None) -> None:
        """SIGCONT a venue process."""
        self._venue_proc(venue).signal(signal.SIGCONT)

    async def kill_feed(self) -> None:
        """SIGKILL the feed process and reap it."""
        assert self.feed_proc is not None
        self.feed_proc.signal(signal.SIGKILL)
        await self.feed_proc.stop()

    async def restart_feed(self) -> None:
        """Start the feed again, resuming from its journal."""
        await self._start_feed(resume=True)
        self.restarts += 1

    # -- a run ------------------------------------------------------------------------------------------

    async def start_replay(self) -> None:
        """Start every venue's replay."""
        for venue in self.venues.values():
            await venue.start_replay()

    async def heal_everything(self) -> None:
        """End every fault; a paused venue or feed is continued, a killed feed restarted."""
        for venue_proc in self.venue_procs.values():
            venue_proc.signal(signal.SIGCONT)
        await self.heal_proxies()
        for venue in self.venues.values():
            await venue.clear_faults()
        proc = self.feed_proc
        if proc is not None and proc.proc is not None:
            if proc.proc.returncode is None:
                proc.signal(signal.SIGCONT)
            else:
                await self.restart_feed()

    async def _dump_state(self) -> dict[str, Any]:
        """Ask the feed for its state file (SIGUSR1) and read it."""
        assert self.feed_proc is not None
        self._state_seq += 1
        before = self._read_state()
        self.feed_proc.signal(signal.SIGUSR1)

        async def written() -> bool:
            state = self._read_state()
            return state is not None and (before is None or state["sequence"] != before["sequence"])

        await wait_until(written, STATE_DUMP_TIMEOUT_S, "the feed did not write its state file")
        state = self._read_state()
        assert state is not None
        return state

    def _read_state(self) -> dict[str, Any] | None:
        try:
            doc: dict[str, Any] = orjson.loads(self.state_path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None
        return doc if doc.get("pid") == (self.feed_proc.pid if self.feed_proc else None) else None

    async def settle(self) -> None:
        """Stop the venue's sender, then wait until the journal stops growing and every book is in sync."""
        for venue in self.venues.values():
            await venue.stall(SETTLE_MAX_S + 5)
        deadline = time.monotonic() + SETTLE_MAX_S
        last = -1
        while time.monotonic() < deadline:
            state = await self._dump_state()
            size = self.journal.stat().st_size if self.journal.exists() else 0
            books_ok = all(b["synced"] for b in state["books"].values())
            if size == last and books_ok and not state["backfilling"]:
                return
            last = size
            await asyncio.sleep(SETTLE_QUIET_S)

    async def gather(self, t0_ns: int) -> RunData:
        """Stop the feed (it writes its state and closes its journal), then collect everything."""
        await self._stop_sampler()
        await self._stop_feed()
        state = orjson.loads(self.state_path.read_bytes())
        events = list(read_feed_history(self.journal))
        books = {}
        unjudged: list[str] = []
        for instrument, entry in state["books"].items():
            try:
                truth = await self.venues[entry["venue"]].true_book(entry["symbol"], limit=1_000_000)
            except ControlError as exc:
                if exc.status != 404:
                    raise
                unjudged.append(instrument)  # the venue keeps no true book of it: nothing to compare with
                continue
            books[instrument] = (truth, entry["book"] if entry["synced"] else None)
        letters, letter_times = dead_letters_of(self.dlq_path)
        venues = {}
        for spec in self.specs:
            remote = self.venues[spec.instance]
            streams: list[str] = state["venues"][spec.instance]["streams"]
            info = await remote.stream_info(streams)
            venues[spec.instance] = VenueRun(
                name=spec.instance,
                adapter=spec.venue,
                streams=streams,
                replay_of={name: entry["replay"] for name, entry in info.items()},
                latest_value={name for name, entry in info.items() if entry["latest_value"]},
                timeline=await remote.timeline(),
                history=await remote.history(),
            )
        return RunData(
            t0_ns=t0_ns,
            venues=venues,
            events=events,
            books=books,
            books_without_truth=unjudged,
            stats=state["stats"],
            dead_letters=letters,
            dead_letter_times=letter_times,
            rss=self.rss,
            allocation_growth=state.get("allocation_growth", []),
            rss_by_process={name: samples for name, samples in self.rss_by_process.items() if samples},
            restarts=self.restarts,
        )
