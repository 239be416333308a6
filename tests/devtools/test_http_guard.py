"""tickstorm.http_guard's pure rules: loopback Host names and allowed WebSocket origins."""

from __future__ import annotations

import pytest

from tickstorm.http_guard import is_loopback_host_header, origin_allowed


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("127.0.0.1", True),
        ("127.0.0.1:8080", True),
        ("localhost", True),
        ("LocalHost:1", True),
        ("[::1]", True),
        ("[::1]:443", True),
        ("::1", True),
        ("evil.example", False),
        ("localhost.evil.example", False),
        ("127.0.0.1.nip.io", False),
        ("10.0.0.1:80", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_host_header(host: str | None, ok: bool) -> None:
    assert is_loopback_host_header(host) is ok


@pytest.mark.parametrize(
    ("origin", "host", "ok"),
    [
        (None, "10.0.0.5:9000", True),
        ("http://127.0.0.1:3000", "127.0.0.1:9000", True),
        ("http://localhost", "127.0.0.1:9000", True),
        ("http://[::1]:1", "[::1]:9000", True),
        ("http://10.0.0.5:9000", "10.0.0.5:9000", True),  # websocket-client's default origin
        ("https://evil.example", "127.0.0.1:9000", False),
        ("http://evil.example:9000", "evil.example:9000", False),  # DNS rebinding: a name, not an IP
        ("http://10.0.0.6:9000", "10.0.0.5:9000", False),
        ("null", "127.0.0.1:9000", False),
    ],
)
def test_origin_allowed(origin: str | None, host: str, ok: bool) -> None:
    assert origin_allowed(origin, host) is ok
