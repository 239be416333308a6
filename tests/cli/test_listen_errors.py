"""A port that is already taken stops the venue and the feed with one line naming the address, exit 2, no
traceback (as the proxy already did)."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.support import BUNDLED, assert_one_line_error, tickstorm

NOWHERE = ("--ws-url", "ws://127.0.0.1:9", "--rest-url", "http://127.0.0.1:9")
"""A feed's venue that is never reached (it would retry forever): the feed must fail on its own ports."""


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port someone else listens on (127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    """A small valid recording (the venue reads it before it binds)."""
    with gzip.open(BUNDLED, "rb") as fh:
        lines = [fh.readline() for _ in range(60)]
    path = tmp_path / "small.norm.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(lines)))
    return path


@pytest.mark.parametrize(
    ("flag", "server"),
    [("--port", "WebSocket server"), ("--rest-port", "REST server"), ("--control-port", "control API")],
)
def test_venue_port_in_use(taken_port: int, recording: Path, flag: str, server: str) -> None:
    outcome = tickstorm("venue", "binance-spot", "--recording", recording, flag, str(taken_port))
    line = assert_one_line_error(outcome, f"127.0.0.1:{taken_port}", server)
    assert "address already in use" in line


@pytest.mark.parametrize(
    ("flags", "server"),
    [
        (("--serve-port", "{port}"), "downstream WebSocket server"),
        (("--serve-port", "0", "--serve-http-port", "{port}"), "downstream HTTP API"),
        (("--metrics-port", "{port}"), "metrics endpoint"),
    ],
)
def test_feed_port_in_use(taken_port: int, tmp_path: Path, flags: tuple[str, ...], server: str) -> None:
    args = [f.format(port=taken_port) for f in flags]
    outcome = tickstorm("feed", *NOWHERE, "--dlq", tmp_path / "dlq.sqlite", *args)
    line = assert_one_line_error(outcome, f"127.0.0.1:{taken_port}", server)
    assert "address already in use" in line


def test_proxy_port_in_use(taken_port: int) -> None:
    outcome = tickstorm("proxy", "--port", str(taken_port))
    assert_one_line_error(outcome, f"127.0.0.1:{taken_port}")
