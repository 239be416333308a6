"""SIGINT and SIGTERM stop every long-running command cleanly: the feed (exit 0, its "stopped" line), load
(exit 130/143, "stopped by" line, venue, feed and Locust gone) and observe (exit 0, Prometheus stopped). The
venue and the proxy are covered by tests/venue/test_venue_process.py and tests/proxy/test_cli_process.py,
`run` by tests/harness/test_run_signals.py and test_process_stack.py."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tickstorm.procs import ServiceProcess

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]
TICKSTORM = [sys.executable, "-m", "tickstorm"]
SIGNALS = [signal.SIGINT, signal.SIGTERM]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
async def test_the_feed_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    venue_cmd = [*TICKSTORM, "venue", "binance-spot", "--port", "0", "--speed", "max", "--loop"]
    async with ServiceProcess(venue_cmd, name="venue") as venue:
        feed_cmd = [*TICKSTORM, "feed", "--symbols", "btcusdt", "--streams", "trade,depth@100ms"]
        feed_cmd += ["--ws-url", venue.ready["ws"], "--rest-url", venue.ready["rest"]]
        feed_cmd += ["--dlq", str(tmp_path / "dlq.sqlite")]  # not the default ./feed-dlq.sqlite
        feed = ServiceProcess(feed_cmd, name="feed")
        async with feed:
            await asyncio.sleep(1.0)
            feed.signal(sig)
            assert feed.proc is not None
            assert await asyncio.wait_for(feed.proc.wait(), 30) == 0
            await asyncio.sleep(0.2)  # the stderr drain reads the last lines
            stderr = "\n".join(feed.stderr_tail)
        assert '"event":"stopped"' in stderr and "Traceback" not in stderr, stderr


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_load_stops_cleanly_with_venue_feed_and_locust(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    cmd = [*TICKSTORM, "load", "--plan", "1x2", "--step-s", "60", "--warmup-s", "1", "--run-time", "90"]
    cmd += ["--no-history", "--run-dir", str(tmp_path / "run")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while not any("locust" in " ".join(p.cmdline()) for p in alive(children)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "Locust never started"
            time.sleep(0.2)
            children = descendants(proc.pid)
        time.sleep(1.0)
        children = descendants(proc.pid)  # venue, feed, Locust (and its workers)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for child in alive(children):
            child.kill()
    assert proc.returncode == code, err
    assert f"tickstorm load: stopped by {sig.name}" in err and "Traceback" not in err, err
    assert alive(children) == [], "a process of the load run outlived it"


@pytest.mark.timeout(60)
def test_observe_stops_cleanly_on_sigterm() -> None:
    from feed.metrics import FeedMetrics
    from observability.server import prometheus_binary

    prometheus = prometheus_binary()
    if prometheus is None:  # as tests/observability/conftest.py does
        pytest.skip("prometheus is not installed (Debian package 'prometheus'); CI installs it")
    metrics = FeedMetrics()
    port = metrics.serve("127.0.0.1", 0)
    cmd = [*TICKSTORM, "observe", "--target", f"127.0.0.1:{port}", "--listen", "127.0.0.1:0"]
    cmd += ["--scrape-interval", "1s", "--prometheus", prometheus]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(("target ", "no scrape")):
                break
        children = descendants(proc.pid)
        assert children, "no Prometheus process"
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        metrics.close()
    assert proc.returncode == 0 and "stopping prometheus" in rest and "Traceback" not in rest, rest
    assert alive(children) == []
