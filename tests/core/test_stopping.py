"""How tickstorm processes stop: SIGTERM takes the Ctrl-C path (:mod:`tickstorm.interrupts`), and children
die with a parent that was SIGKILLed (:mod:`tickstorm.lifeline`: prctl on Linux, a parent watch anywhere)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import psutil
import pytest

from tickstorm import lifeline

pytestmark = pytest.mark.timeout(60)

INTERRUPTED = """
import asyncio, os, signal, sys
from tickstorm import interrupts
from tickstorm.service import run_async
if {ignore_sigint}:  # a background job of a shell script
    signal.signal(signal.SIGINT, signal.SIG_IGN)

async def main():
    asyncio.get_running_loop().call_later(0.3, os.kill, os.getpid(), signal.{sig})
    try:
        await asyncio.sleep(30)
    finally:
        print("cleaned up", flush=True)

with interrupts.sigterm_as_interrupt():
    try:
        run_async(main(), use_uvloop={uvloop})
    except KeyboardInterrupt:
        print("stopped by", interrupts.stopped_by(), interrupts.exit_code(), flush=True)
"""


@pytest.mark.parametrize("uvloop", [True, False])
@pytest.mark.parametrize(
    ("sig", "code", "ignore_sigint"),
    [("SIGTERM", 143, False), ("SIGINT", 130, False), ("SIGTERM", 143, True)],
)
def test_sigterm_cancels_the_main_task_like_ctrl_c(
    sig: str, code: int, ignore_sigint: bool, uvloop: bool
) -> None:
    script = INTERRUPTED.format(sig=sig, uvloop=uvloop, ignore_sigint=ignore_sigint)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["cleaned up", f"stopped by {sig} {code}"]


def spawn_through(child: str) -> tuple[subprocess.Popen[str], psutil.Process]:
    """A middle process that starts ``child`` (Python source building ``cmd`` and ``kw`` for Popen) and
    prints its pid; returns the middle process and the child."""
    script = (
        "import subprocess, sys\n"
        "from tickstorm import lifeline\n"
        f"{child}\n"
        "p = subprocess.Popen(cmd, **kw)\n"
        "print(p.pid, flush=True)\n"
        "p.wait()\n"
    )
    middle = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert middle.stdout is not None
    return middle, psutil.Process(int(middle.stdout.readline()))


def gone(process: psutil.Process, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:  # waiting for its new parent to reap it
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_die_with_parent_kills_the_child_when_its_parent_is_sigkilled() -> None:
    middle, child = spawn_through("cmd = ['sleep', '60']\nkw = {'preexec_fn': lifeline.die_with_parent()}")
    try:
        assert child.is_running() and child.name() == "sleep"
        middle.kill()
        middle.wait(10)
        assert gone(child), "the child outlived its SIGKILLed parent"
    finally:
        if child.is_running():
            child.kill()


def test_die_with_parent_is_not_used_off_the_main_thread() -> None:
    """The kernel ties PR_SET_PDEATHSIG to the forking thread: from a worker thread the child would die
    with that thread, so the caller gets no preexec_fn there (its own cleanup stops the child)."""
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(lifeline.die_with_parent).result() is None
    assert (lifeline.die_with_parent() is not None) == sys.platform.startswith("linux")


def test_a_service_stops_when_the_parent_it_was_started_by_dies() -> None:
    """The portable fallback alone (no prctl): the service watches the pid its parent gave it."""
    middle, child = spawn_through(
        "cmd = [sys.executable, '-m', 'tickstorm', 'proxy', '--port', '0']\n"
        "kw = {'env': lifeline.child_environment()}"
    )
    try:
        assert middle.stdout is not None
        assert orjson.loads(middle.stdout.readline())["event"] == "ready"  # the proxy's ready line
        middle.send_signal(signal.SIGKILL)
        middle.wait(10)
        assert gone(child), "the service outlived the parent that started it"
    finally:
        if child.is_running():
            child.kill()


def test_a_service_started_by_hand_does_not_watch_a_parent() -> None:
    from tickstorm import lifeline

    assert not lifeline.watch_parent() and not lifeline.parent_gone()
