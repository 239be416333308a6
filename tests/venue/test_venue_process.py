"""`tickstorm venue binance-spot` as a real process: ready line, serving, clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
import pytest

from tests.venue.conftest import connect
from tickstorm.procs import ServiceProcess, ServiceStartError

pytestmark = pytest.mark.timeout(60)

VENUE = [sys.executable, "-m", "tickstorm", "venue", "binance-spot"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_ready_line_serves_and_stops_cleanly(sig: signal.Signals) -> None:
    proc = ServiceProcess(
        [*VENUE, "--port", "0", "--bundled", "spot-4sym-2021", "--speed", "max", "--paused"]
    )
    async with proc:
        ready = proc.ready
        assert ready["event"] == "ready" and ready["venue"] == "binance-spot"
        for key in ("ws", "rest", "control"):
            assert ready[key].startswith(("ws://127.0.0.1:", "http://127.0.0.1:"))
        async with aiohttp.ClientSession() as http:
            assert await (await http.get(f"{ready['rest']}/api/v3/ping")).json() == {}
        async with connect(f"{ready['ws']}/ws/nknusdt@depth@100ms") as ws:
            async with aiohttp.ClientSession() as http:
                await http.post(f"{ready['control']}/replay/start", json={})
            first = await asyncio.wait_for(ws.recv(), 10)
            assert b"depthUpdate" in (first if isinstance(first, bytes) else first.encode())
        proc.signal(sig)
        assert await asyncio.wait_for(proc.proc.wait(), 10) == 0  # type: ignore[union-attr]


async def test_missing_recording_is_a_clear_error() -> None:
    with pytest.raises(ServiceStartError, match=r"recording not found: /no/such/file\.norm\.jsonl"):
        async with ServiceProcess([*VENUE, "--recording", "/no/such/file.norm.jsonl"], ready_timeout_s=20):
            pass


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speed", "1000"], "speed must be within [0.1, 100]"),
        (["--speed", "fast"], "speed must be a number or 'max'"),
        (["--fanout", "0"], "must be >= 1"),
        (["--bundled", "nope"], "unknown bundled set 'nope'"),
    ],
)
async def test_bad_arguments_exit_2_with_a_message(args: list[str], message: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *VENUE, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert message in err.decode()
