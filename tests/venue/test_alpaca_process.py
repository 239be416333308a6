"""`tickstorm venue alpaca` as a real process: the ready line names every URL, and each serves Alpaca."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from mock_venues.recordings import bundled
from tests.venue.alpaca_support import connect, recv, send
from tickstorm.procs import ServiceProcess

pytestmark = pytest.mark.timeout(60)

VENUE = [sys.executable, "-m", "tickstorm", "venue", "alpaca"]


@pytest.mark.parametrize("recording", [None, bundled("alpaca")[0]], ids=["bundled-default", "recording"])
async def test_ready_line_and_every_url(recording: Path | None) -> None:
    args = ["--port", "0", "--speed", "max", "--paused"]
    if recording is not None:
        args += ["--recording", str(recording)]
    async with ServiceProcess([*VENUE, *args]) as proc:
        ready = proc.ready
        assert ready["event"] == "ready" and ready["venue"] == "alpaca"
        assert ready["ws"].startswith("ws://127.0.0.1:")
        assert ready["rest"].startswith("http://127.0.0.1:") and ready["control"].startswith(
            "http://127.0.0.1:"
        )
        async with connect(f"{ready['ws']}/v2/iex") as ws:
            assert await recv(ws) == [{"T": "success", "msg": "connected"}]
            await send(ws, {"action": "auth", "key": "k", "secret": "s"})
            assert await recv(ws) == [{"T": "success", "msg": "authenticated"}]
            await send(ws, {"action": "subscribe", "trades": ["IBM"]})
            assert (await recv(ws))[0]["trades"] == ["IBM"]
            async with aiohttp.ClientSession() as http:
                await http.post(f"{ready['control']}/replay/start", json={})
            trade = (await recv(ws, 10))[0]
            assert trade["T"] == "t" and trade["S"] == "IBM"
        async with aiohttp.ClientSession() as http:
            headers = {"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s"}
            async with http.get(
                f"{ready['rest']}/v2/stocks/trades", params={"symbols": "IBM"}, headers=headers
            ) as resp:
                assert resp.status == 200 and "trades" in await resp.json()
        proc.signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.proc.wait(), 10) == 0  # type: ignore[union-attr]
