"""Pick the Toxiproxy server a run uses: ``async with toxiproxy_endpoint() as ep: ep.url, ep.kind``.

Order: ``TOXIPROXY_URL`` when set (a real server, e.g. in Docker or a CI service, or any compatible one),
else ``toxiproxy-server`` found on PATH (started on a free loopback port for the duration), else the
embedded server in this event loop. ``ep.kind`` (``env``, ``binary`` or ``embedded``) goes into reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp

from faultproxy.server import EmbeddedToxiproxy
from tickstorm.lifeline import die_with_parent

BINARY_NAME = "toxiproxy-server"


@dataclass(frozen=True)
class RunningBinary:
    """A toxiproxy-server process started by :func:`run_binary`."""

    url: str
    pid: int


@dataclass(frozen=True)
class ToxiproxyEndpoint:
    """Where the Toxiproxy API is, and what kind of server answers there."""

    url: str
    kind: str  # "env" | "binary" | "embedded"
    binary: str | None = None
    server: EmbeddedToxiproxy | None = None  # the embedded server when it runs in this process
    pid: int | None = None  # the embedded server's process when it runs in its own


def free_loopback_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for_api(
    url: str, timeout_s: float = 10.0, proc: asyncio.subprocess.Process | None = None
) -> None:
    """Poll ``url``/version until it answers 200 (or fail after ``timeout_s``)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with aiohttp.ClientSession() as http:
        while True:
            if proc is not None and proc.returncode is not None:
                raise RuntimeError(f"{BINARY_NAME} exited with code {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(f"{url}/version") as resp:
                    if resp.status == 200:
                        return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no Toxiproxy API at {url} after {timeout_s} s")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def run_binary(binary: str, *extra: str, port: int | None = None) -> AsyncIterator[RunningBinary]:
    """Run a toxiproxy-server binary on loopback; yields its URL and pid; stops it afterwards."""
    port = port or free_loopback_port()
    proc = await asyncio.create_subprocess_exec(
        binary,
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        *extra,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        preexec_fn=die_with_parent(),  # even a SIGKILLed harness leaves no server behind (Linux)
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_for_api(url, proc=proc)
        yield RunningBinary(url, proc.pid)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()


@contextlib.asynccontextmanager
async def toxiproxy_endpoint(
    *, env: Mapping[str, str] | None = None, seed: int | None = None, separate_process: bool = False
) -> AsyncIterator[ToxiproxyEndpoint]:
    """The Toxiproxy API to use: TOXIPROXY_URL, else toxiproxy-server on PATH, else the embedded one.

    ``separate_process``: run the embedded server as its own process (``tickstorm proxy``) rather than in
    this event loop, so it competes for CPU like the real server would.
    """
    environ = os.environ if env is None else env
    url = environ.get("TOXIPROXY_URL", "").strip()
    if url:
        yield ToxiproxyEndpoint(url.rstrip("/"), "env")
        return
    binary = shutil.which(BINARY_NAME, path=environ.get("PATH"))
    if binary:
        async with run_binary(binary) as running:
            yield ToxiproxyEndpoint(running.url, "binary", binary=binary)
        return
    if separate_process:
        from tickstorm.procs import ServiceProcess

        cmd = [sys.executable, "-m", "tickstorm", "proxy", "--host", "127.0.0.1", "--port", "0"]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        async with ServiceProcess(cmd, name="proxy") as proc:
            yield ToxiproxyEndpoint(str(proc.ready["api"]).rstrip("/"), "embedded", pid=proc.pid)
        return
    async with EmbeddedToxiproxy(seed=seed) as server:
        yield ToxiproxyEndpoint(server.api_url, "embedded", server=server)
