"""`tickstorm proxy` as a real process: ready line, serving the API and traffic, clean stop, config errors."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.proxy.support import Upstream, free_port
from tickstorm.procs import ServiceProcess

pytestmark = pytest.mark.timeout(60)

PROXY = [sys.executable, "-m", "tickstorm", "proxy"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_ready_line_serves_and_exits_zero_on_signal(sig: signal.Signals) -> None:
    async with (
        Upstream("echo") as up,
        ServiceProcess([*PROXY, "--port", "0", "--seed", "3"], name="proxy") as proc,
    ):
        ready = proc.ready
        assert set(ready) == {"event", "api"} and ready["event"] == "ready"
        assert ready["api"].startswith("http://127.0.0.1:") and not ready["api"].endswith(":0")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{ready['api']}/version") as resp:
                assert resp.status == 200 and await resp.text() == '{"version": "2.12.0"}\n'
            async with http.post(
                f"{ready['api']}/proxies", json={"name": "p", "upstream": up.addr, "listen": "127.0.0.1:0"}
            ) as resp:
                assert resp.status == 201
                port = int((await resp.json())["listen"].rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"through the process")
        assert await asyncio.wait_for(reader.readexactly(19), 5) == b"through the process"
        writer.close()
        proc.signal(sig)
        assert proc.proc is not None
        assert await asyncio.wait_for(proc.proc.wait(), 10) == 0


def test_ready_line_is_exactly_one_json_line_on_stdout() -> None:
    port = free_port()
    child = subprocess.Popen(
        [*PROXY, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.endswith("\n")
        assert json.loads(line) == {"event": "ready", "api": f"http://127.0.0.1:{port}"}
    finally:
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=10)
    assert child.returncode == 0
    assert out == "" and "Traceback" not in err


async def test_config_file_is_loaded(tmp_path: Path) -> None:
    fixed = free_port()
    config = tmp_path / "proxies.json"
    async with Upstream("echo") as up:
        config.write_text(json.dumps([{"name": "cfg", "upstream": up.addr, "listen": f"127.0.0.1:{fixed}"}]))
        async with ServiceProcess([*PROXY, "--port", "0", "--config", str(config)], name="proxy") as proc:
            async with aiohttp.ClientSession() as http, http.get(f"{proc.ready['api']}/proxies/cfg") as resp:
                assert resp.status == 200
                assert (await resp.json())["listen"] == f"127.0.0.1:{fixed}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read config"),
        ("{not json", "is not valid JSON"),
        ('{"name": "x"}', "must be a JSON array"),
        ("[" * 10001, "is not valid JSON: invalid character '[' exceeded max depth"),
        ('[{"name": "x"}]', "missing required field: upstream at proxy 1"),
        ('[{"name": "x", "upstream": "127.0.0.1:1", "listen": "nope"}]', "missing port in address"),
        ('[{"name": "x", "upstream": "192.0.2.1:80", "listen": "127.0.0.1:0"}]', "not a loopback address"),
    ],
)
def test_bad_config_exits_2_with_a_clear_message(tmp_path: Path, content: str | None, message: str) -> None:
    config = tmp_path / "proxies.json"
    if content is not None:
        config.write_text(content)
    result = subprocess.run(
        [*PROXY, "--port", "0", "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_help_lists_the_options() -> None:
    result = subprocess.run([*PROXY, "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    for option in ("--host", "--port", "--config", "--seed", "--allow-remote-upstream"):
        assert option in result.stdout


def test_port_in_use_exits_2_with_a_clear_message() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = subprocess.run([*PROXY, "--port", str(port)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "cannot listen on 127.0.0.1" in result.stderr and "Traceback" not in result.stderr
