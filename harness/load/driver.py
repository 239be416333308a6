"""``tickstorm load``'s engine: venue and feed as processes, Locust headless against them, a report.

:func:`run_load` starts the mock venue (looping replay) and the feed (with its downstream server and a
``--jsonl`` history) with :class:`tickstorm.procs.ServiceProcess`, runs Locust headless (``--processes N``
for a master with N workers on this machine) with the knee shape, samples each process's CPU, stops
everything (always, also on errors and timeouts), joins the subscriber histories with the feed's history
when asked, and writes ``<run_dir>/load-report.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from harness.load.report import build_report, write_report
from tickstorm.lifeline import die_with_parent
from tickstorm.procs import ServiceProcess

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
TICKSTORM = [sys.executable, "-m", "tickstorm"]


@dataclass
class LoadOptions:
    """Everything one load run needs (``tickstorm load`` flags)."""

    run_dir: Path
    plan: str = "1x50,1x100,1x200,1x400,2x400,5x400,10x400,20x400"
    step_s: float = 20.0
    warmup_s: float = 5.0
    processes: int = 0
    """Locust worker processes on this machine (0: one process, no master/worker split)."""
    run_time_s: float = 600.0
    channels: str = "book,trade"
    venue: str = "binance-spot"
    """The registered venue the mock venue and the feed run (docs/adding-a-venue.md)."""
    symbols: str = "btcusdt"
    """Comma-separated symbols the feed ingests; subscribers pick from them round robin."""
    recording: str | None = None
    """The bundled recording set the venue replays (None: the venue's own default)."""
    history: bool = True
    strict_tail: bool = False
    slow_subscribers: int = 0
    task_interval_s: float = 10.0
    churn: bool = False
    allow_drops: bool = False
    spawn_rate_per_s: float = 100.0
    sla_file: Path | None = None
    feed_env: dict[str, str] = field(default_factory=dict)
    """Extra ``TICKSTORM_FEED_*`` settings for the feed process (e.g. the slow-consumer policy)."""
    quiet_s: float = 2.0
    """Seconds the venue is stalled before the feed stops (everything in flight reaches subscribers)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in out.items()}


class CpuSampler:
    """Samples the CPU use (% of one core) of named process trees once per second."""

    def __init__(self) -> None:
        self.samples: list[dict[str, Any]] = []
        self._procs: dict[str, psutil.Process] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, name: str, pid: int) -> None:
        """Include a process (and its children) under ``name``."""
        with contextlib.suppress(psutil.Error):
            self._procs[name] = psutil.Process(pid)

    def _tree_cpu(self, proc: psutil.Process) -> float:
        total = 0.0
        with contextlib.suppress(psutil.Error):
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = p.cpu_times()
                    total += times.user + times.system
        return total

    async def _run(self) -> None:
        last = {name: self._tree_cpu(p) for name, p in self._procs.items()}
        last_t = time.time()
        while True:
            await asyncio.sleep(1.0)
            now = time.time()
            sample: dict[str, Any] = {"t": now}
            for name, proc in self._procs.items():
                cpu = self._tree_cpu(proc)
                sample[name] = round(100 * (cpu - last.get(name, cpu)) / max(now - last_t, 1e-6), 1)
                last[name] = cpu
            last_t = now
            self.samples.append(sample)

    def start(self) -> None:
        """Start sampling."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def _stop_group(proc: asyncio.subprocess.Process, timeout_s: float = 15.0) -> None:
    """SIGTERM the process group (Locust master and workers), then SIGKILL what is left."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


def locust_command(opts: LoadOptions, ready_venue: dict[str, Any], ready_feed: dict[str, Any]) -> list[str]:
    """The Locust command line (headless, bounded, CSV + JSON stats in the run dir)."""
    d = opts.run_dir
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--run-time", f"{int(opts.run_time_s)}s", "--stop-timeout", "5",
        "--csv", str(d / "locust"), "--json-file", str(d / "locust"), "--html", str(d / "locust.html"),
        "--only-summary", "--exit-code-on-error", "0", "--loglevel", "WARNING",
        "--host", ready_feed["downstream_http"],
        "--feed-ws", ready_feed["downstream_ws"], "--feed-http", ready_feed["downstream_http"],
        "--venue-control", ready_venue["control"], "--feed-channels", opts.channels,
        "--feed-symbols", opts.symbols,
        "--plan", opts.plan, "--step-s", str(opts.step_s), "--warmup-s", str(opts.warmup_s),
        "--spawn-rate-per-s", str(opts.spawn_rate_per_s), "--steps-out", str(d / "steps.jsonl"),
        "--slow-subscribers", str(opts.slow_subscribers), "--task-interval-s", str(opts.task_interval_s),
        "--churn", str(int(opts.churn)), "--allow-drops", str(int(opts.allow_drops)),
    ]  # fmt: skip
    if opts.history:
        cmd += ["--history-dir", str(d / "subscribers")]
    if opts.sla_file is not None:
        cmd += ["--sla-file", str(opts.sla_file)]
    if opts.processes > 0:
        cmd += ["--processes", str(opts.processes)]
    return cmd


async def run_load(opts: LoadOptions) -> dict[str, Any]:
    """One bounded load run; returns the report (also written to ``run_dir/load-report.json``)."""
    d = opts.run_dir
    d.mkdir(parents=True, exist_ok=True)
    for stale in ("steps.jsonl", "feed.jsonl"):
        (d / stale).unlink(missing_ok=True)
    first_speed = opts.plan.split(",")[0].partition("x")[0].strip() or "1"
    venue_cmd = [*TICKSTORM, "venue", opts.venue, "--loop", "--speed", first_speed]
    if opts.recording is not None:
        venue_cmd += ["--bundled", opts.recording]
    feed_cmd = [
        *TICKSTORM, "feed", "--serve-port", "0", "--serve-http-port", "0", "--metrics-port", "0",
        "--dlq", str(d / "feed-dlq.sqlite"),
    ]  # fmt: skip
    if opts.history:
        feed_cmd += ["--jsonl", str(d / "feed.jsonl")]
    env = {**os.environ, **opts.feed_env}
    sampler = CpuSampler()
    started = time.time()
    locust_rc: int | None = None
    async with ServiceProcess(venue_cmd, name="venue") as venue:
        feed_cmd += ["--venue", opts.venue, "--symbols", opts.symbols, "--ws-url", venue.ready["ws"]]
        if venue.ready.get("rest"):
            feed_cmd += ["--rest-url", venue.ready["rest"]]
        sampler.watch("venue", venue.pid)
        async with ServiceProcess(feed_cmd, name="feed", env=env) as feed:
            sampler.watch("feed", feed.pid)
            await _wait_healthy(feed.ready["downstream_http"])
            locust = await asyncio.create_subprocess_exec(
                *locust_command(opts, venue.ready, feed.ready),
                stdout=(d / "locust.out").open("wb"),
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(),  # a SIGKILLed driver leaves no Locust behind (Linux)
            )
            sampler.watch("locust", locust.pid)
            sampler.start()
            try:
                locust_rc = await asyncio.wait_for(locust.wait(), opts.run_time_s + 60)
            except TimeoutError:
                pass
            finally:
                await _stop_group(locust)
                await sampler.stop()
            await _stall(venue.ready["control"], opts.quiet_s)
            await asyncio.sleep(opts.quiet_s)
    report = build_report(opts, started=started, locust_rc=locust_rc, cpu=sampler.samples)
    write_report(d / "load-report.json", report)
    return report


async def _wait_healthy(http: str, timeout_s: float = 30.0) -> None:
    """Wait until the feed's /health says ok (connected, books in sync)."""
    import aiohttp

    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{http}/health") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"the feed at {http} did not become healthy within {timeout_s} s")


async def _stall(control: str, seconds: float) -> None:
    """Stop the venue's sender for a while so the tail of the feed's history reaches every subscriber."""
    import aiohttp

    with contextlib.suppress(aiohttp.ClientError):
        async with aiohttp.ClientSession() as session:
            await session.post(f"{control}/replay/stall", json={"duration_s": seconds + 30})
