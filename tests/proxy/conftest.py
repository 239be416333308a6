"""Fixtures for the proxy tests: the embedded server, and the real toxiproxy-server when it is available.

The real server runs once per pytest-xdist worker (session scope) on a free loopback port; scenarios
delete every proxy before they start, so tests sharing it do not see each other's proxies.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from faultproxy.server import EmbeddedToxiproxy
from tests.proxy.support import NO_BINARY_REASON, real_binary, real_server


@pytest.fixture(scope="session")
def real_url() -> Iterator[str | None]:
    """URL of a running real toxiproxy-server, or None when the binary is absent."""
    binary = real_binary()
    if binary is None:
        yield None
        return
    with real_server(binary) as url:
        yield url


@pytest.fixture
def live_real(real_url: str | None) -> str:
    """The real server's URL; skips (with the reason) when there is no binary."""
    if real_url is None:
        pytest.skip(NO_BINARY_REASON)
    return real_url


@pytest.fixture
async def embedded() -> AsyncIterator[EmbeddedToxiproxy]:
    """An embedded server on a free loopback port, seeded."""
    async with EmbeddedToxiproxy(seed=20240601) as server:
        yield server


@pytest.fixture(scope="session")
def process_url() -> Iterator[str]:
    """An embedded server run as `tickstorm proxy` (uvloop, as in chaos runs), shared per worker."""
    child = subprocess.Popen(
        [sys.executable, "-m", "faultproxy.cli", "--port", "0", "--seed", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        ready = json.loads(child.stdout.readline())
        yield str(ready["api"])
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
