"""``tickstorm observe`` starts Prometheus against a feed's metrics, reports the scrape, stops on Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from feed.metrics import FeedMetrics
from observability.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(60)
def test_observe_scrapes_the_target_and_stops_on_ctrl_c(prometheus: str) -> None:
    metrics = FeedMetrics()
    port = metrics.serve("127.0.0.1", 0)
    command = [sys.executable, "-m", "observability.cli", "--target", f"127.0.0.1:{port}"]
    command += ["--listen", "127.0.0.1:0", "--scrape-interval", "1s"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith(("target ", "no scrape")):
                break
        output = "".join(lines)
        assert f"target http://127.0.0.1:{port}/metrics is up" in output, output
        url = next(w for w in lines[0].split() if w.startswith("http://"))
        with urllib.request.urlopen(f"{url}/api/v1/query?query=up", timeout=5) as response:
            assert b'"value"' in response.read()
        with urllib.request.urlopen(f"{url}/api/v1/rules", timeout=5) as response:
            assert b"TickstormFeedStreamStale" in response.read()
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=20)
        assert process.returncode == 0, output + rest
        assert "stopping prometheus" in rest
        with pytest.raises(OSError):  # Prometheus is gone with it
            urllib.request.urlopen(f"{url}/-/ready", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        metrics.close()


@pytest.mark.timeout(60)
def test_a_sigkilled_observe_leaves_no_prometheus_behind(prometheus: str) -> None:
    """SIGKILL gives observe no chance to stop its child: the kernel does (PR_SET_PDEATHSIG, Linux)."""
    metrics = FeedMetrics()
    port = metrics.serve("127.0.0.1", 0)
    command = [sys.executable, "-m", "observability.cli", "--target", f"127.0.0.1:{port}"]
    command += ["--listen", "127.0.0.1:0", "--scrape-interval", "1s"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    children: list[psutil.Process] = []
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "http://" in first, first  # Prometheus is up
        children = psutil.Process(process.pid).children()
        assert [c.name() for c in children] == ["prometheus"]
        process.kill()
        process.wait(10)
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, "Prometheus outlived the SIGKILLed observe"
    finally:
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        if process.poll() is None:
            process.kill()
            process.wait(10)
        metrics.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "10.1.2.3:9464"], "not a loopback address"),
        (["--target", "127.0.0.1:9464", "--listen", "0.0.0.0:9090"], "not a loopback address"),
        (["--target", "127.0.0.1"], "HOST:PORT"),
        (["--target", "127.0.0.1:9464", "--scrape-interval", "fast"], "duration"),
    ],
)
def test_observe_refuses_bad_arguments(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert time.monotonic() - started < 5  # refused before anything started


def test_register_adds_the_observe_subcommand() -> None:
    import argparse

    from observability import cli as observe

    parser = argparse.ArgumentParser(prog="tickstorm")
    observe.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["observe", "--target", "127.0.0.1:9464", "--target", "127.0.0.1:9465"])
    assert args.func is observe.run
    assert args.target == ["127.0.0.1:9464", "127.0.0.1:9465"]
    assert args.listen == observe.DEFAULT_LISTEN and args.scrape_interval == observe.DEFAULT_INTERVAL
