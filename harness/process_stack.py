"""The same stack as :class:`harness.stack.Stack`, with the venue, the fault proxy and the feed each in its
own process: real CPU contention, process faults (SIGSTOP/SIGCONT, SIGKILL and restart) and the feed's
memory measured alone.

The venue is driven through its control API (:class:`RemoteVenue`, same method names as the in-process
venue, so scenario code does not change). The feed is configured through ``TICKSTORM_FEED_*`` environment
variables, writes its delivery journal (``--jsonl``) and DLQ to the run directory, and dumps its books and
counters to a state file on SIGUSR1 and on stop. A sampler records the feed process's RSS every
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

from feed.dlq import DeadLetterQueue
from feed.journal import read_journal
from harness.rundata import RunData
from harness.scenario import Scenario, ScenarioError
from harness.stack import SETTLE_MAX_S, SETTLE_QUIET_S, SUBSCRIBE_TIMEOUT_S, StackBase, wait_until
from mock_venues.binance_spot.control_client import RemoteVenue
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


def venue_command(scenario: Scenario, seed: int) -> list[str]:
    """``tickstorm venue binance-spot`` for this scenario (paused, free ports, loopback)."""
    cmd = [sys.executable, "-m", "tickstorm", "venue", "binance-spot", "--port", "0", "--rest-port", "0"]
    cmd += ["--control-port", "0", "--paused", "--seed", str(seed), "--speed", str(scenario.speed)]
    cmd += ["--fanout", str(scenario.fanout)]
    for path in bundled(scenario.recording):
        cmd += ["--recording", str(path)]
    for key, value in scenario.venue.items():
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
    """Venue, fault proxy and feed as three processes (async context manager)."""

    mode = "processes"

    def __init__(self, scenario: Scenario, seed: int, workdir: Path) -> None:
        super().__init__(scenario, seed, workdir)
        self.venue: RemoteVenue = None  # type: ignore[assignment]
        self.feed_proc: ServiceProcess | None = None
        self.journal = workdir / "feed-journal.jsonl"
        self.state_path = workdir / "feed-state.json"
        self.dlq_path = workdir / "dlq.sqlite"
        self.rss: list[tuple[int, int]] = []  # the feed's (whichever process is the feed at the time)
        self.rss_by_process: dict[str, list[tuple[int, int]]] = {"feed": self.rss, "venue": [], "proxy": []}
        self._venue_pid: int | None = None
        self._venue_proc: ServiceProcess | None = None
        self.restarts = 0
        self._feed_env: dict[str, str] = {}
        self._stream_count = 0
        self._sampler: asyncio.Task[None] | None = None
        self._state_seq = 0

    async def _start(self) -> None:
        venue_proc = ServiceProcess(venue_command(self.scenario, self.seed), name="venue")
        await self._exit.enter_async_context(venue_proc)
        ready = venue_proc.ready
        self._venue_pid = venue_proc.pid
        self._venue_proc = venue_proc
        self.venue = await self._exit.enter_async_context(RemoteVenue(ready["control"]))
        listen = await self._proxy_in_front_of(ready["ws"], ready["rest"], separate_process=True)
        settings = self.feed_settings(listen, dlq_path=str(self.dlq_path), jsonl=str(self.journal))
        self._feed_env = feed_environment(settings)
        self._exit.push_async_callback(self._stop_feed)
        await self._start_feed(resume=False)
        assert self.feed_proc is not None
        self._stream_count = int(self.feed_proc.ready["streams"])

        async def subscribed() -> bool:
            state = await self.venue.state()
            return sum(len(c["streams"]) for c in state["connections"].values()) >= self._stream_count

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
                "venue": self._venue_pid,
                "proxy": self.endpoint.pid if self.endpoint else None,
            }
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

    async def pause_venue(self) -> None:
        """SIGSTOP the venue process."""
        assert self._venue_proc is not None
        self._venue_proc.signal(signal.SIGSTOP)

    async def continue_venue(self) -> None:
        """SIGCONT the venue process."""
        assert self._venue_proc is not None
        self._venue_proc.signal(signal.SIGCONT)

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
        """Start the venue's replay."""
        await self.venue.start_replay()

    async def heal_everything(self) -> None:
        """End every fault; a paused venue or feed is continued, a killed feed restarted."""
        if self._venue_proc is not None:
            self._venue_proc.signal(signal.SIGCONT)
        await self.proxies.heal()
        await self.venue.clear_faults()
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
        await self.venue.stall(SETTLE_MAX_S + 5)
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
        events = list(read_journal(self.journal))
        streams: list[str] = state["streams"]
        books = {}
        for symbol, entry in state["books"].items():
            band = tuple(entry["band"]) if entry["band"] else None
            true = await self.venue.true_book(symbol, limit=1_000_000)
            books[symbol] = (true, entry["book"] if entry["synced"] else None, band)
        with DeadLetterQueue(self.dlq_path) as dlq:
            entries = list(dlq.entries())
        letters = [(e.stream, e.raw) for e in entries]
        wall_minus_mono = time.time_ns() - time.monotonic_ns()
        letter_times = [(e.received_unix_ns - wall_minus_mono, e.stream, e.reason) for e in entries]
        return RunData(
            t0_ns=t0_ns,
            streams=streams,
            replay_of=await self.venue.replay_streams(streams),
            timeline=await self.venue.timeline(),
            venue_history=await self.venue.history(),
            events=events,
            books=books,
            stats=state["stats"],
            dead_letters=letters,
            dead_letter_times=letter_times,
            rss=self.rss,
            allocation_growth=state.get("allocation_growth", []),
            rss_by_process={name: samples for name, samples in self.rss_by_process.items() if samples},
            restarts=self.restarts,
        )
