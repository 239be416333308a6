"""Shared helpers for the proxy tests and the expectation recorder.

- where the real toxiproxy-server is (only for differential runs; a fresh clone has none),
- starting it on a free loopback port (sync, so one per pytest-xdist worker can be session-scoped),
- an HTTP client that records status, the headers that matter and the body, normalised so that two
  servers can be compared (ports are replaced by placeholders in order of first appearance),
- small upstream servers (echo, send-then-close, sink) and client-side measurements (bytes, EOF vs RST,
  timing) for traffic scenarios.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

HERE = Path(__file__).resolve().parent
EXPECTATIONS_DIR = HERE / "expectations"
API_EXPECTATIONS = EXPECTATIONS_DIR / "api.json"
TRAFFIC_EXPECTATIONS = EXPECTATIONS_DIR / "traffic.json"
REPO_ROOT = HERE.parent.parent
SHARED_DIR = Path(os.environ.get("TICKSTORM_SHARED", REPO_ROOT.parent / "shared"))
REAL_BINARY = SHARED_DIR / "tools" / "toxiproxy" / "toxiproxy-server"
NO_BINARY_REASON = (
    f"real toxiproxy-server not found at {REAL_BINARY}: only the embedded server is checked, against the "
    "expectations recorded from the real one (tests/proxy/expectations)"
)


def real_binary() -> Path | None:
    """The real server binary when this checkout sits next to the shared tools, else None."""
    return REAL_BINARY if REAL_BINARY.is_file() and os.access(REAL_BINARY, os.X_OK) else None


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def real_server(binary: Path) -> Iterator[str]:
    """Run the real toxiproxy-server (with -proxy-metrics) on a free loopback port; yields its URL."""
    for _attempt in range(5):
        port = free_port()
        proc = subprocess.Popen(
            [str(binary), "-host", "127.0.0.1", "-port", str(port), "-proxy-metrics"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "LOG_LEVEL": "error"},
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        up = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/version", timeout=1) as resp:
                    up = resp.status == 200
                    break
            except OSError:
                time.sleep(0.02)
        if not up:
            proc.kill()
            proc.wait()
            continue
        try:
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return
    raise RuntimeError("the real toxiproxy-server did not start")


# ------------------------------------------------------------------------------ HTTP + normalisation
_ADDR_RE = re.compile(r"(127\.0\.0\.1|localhost|\[::1?\]|\[::\]):(\d{2,5})\b")
_ID_RE = re.compile(r"^[0-9a-v]{20}$")


class PortNamer:
    """Replaces dynamic port numbers by ``{P1}``, ``{P2}``, ... in order of first appearance."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def name(self, port: str) -> str:
        if port not in self.names:
            self.names[port] = f"{{P{len(self.names) + 1}}}"
        return self.names[port]

    def __call__(self, text: str) -> str:
        return _ADDR_RE.sub(lambda m: f"{m.group(1)}:{self.name(m.group(2))}", text)


@dataclass
class Exchange:
    """One request and its (normalised) answer."""

    method: str
    path: str
    body: str | None
    status: int
    content_type: str | None
    nosniff: bool
    request_id: bool
    location: str | None
    response: str

    def key(self) -> dict[str, Any]:
        """What must be identical between servers."""
        return {
            "method": self.method,
            "path": self.path,
            "body": self.body,
            "status": self.status,
            "content_type": self.content_type,
            "nosniff": self.nosniff,
            "request_id": self.request_id,
            "location": self.location,
            "response": self.response,
        }


LONG_BODY = 2000


def _short(text: str) -> str:
    """A request body as recorded: long ones (deeply nested JSON) as their head, length and hash."""
    if len(text) <= LONG_BODY:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{text[:40]}... ({len(text)} characters, sha256 {digest})"


@dataclass
class ApiClient:
    """A small client over aiohttp that keeps the raw path and records normalised exchanges."""

    base: str
    http: aiohttp.ClientSession
    namer: PortNamer = field(default_factory=PortNamer)
    log: list[Exchange] = field(default_factory=list)

    async def call(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        *,
        headers: dict[str, str] | None = None,
        record: bool = True,
    ) -> tuple[int, str]:
        """Send one request; returns (status, raw body text)."""
        data = body.encode() if isinstance(body, str) else body
        url = URL(self.base + path, encoded=True)
        async with self.http.request(
            method, url, data=data, headers=headers or {}, allow_redirects=False
        ) as resp:
            text = (await resp.read()).decode("utf-8", errors="replace")
            if record:
                rid = resp.headers.get("X-Toxiproxy-Request-Id")
                self.log.append(
                    Exchange(
                        method=method,
                        path=self.namer(path),
                        body=_short(self.namer(data.decode("utf-8", errors="replace")))
                        if data is not None
                        else None,
                        status=resp.status,
                        content_type=resp.headers.get("Content-Type"),
                        nosniff=resp.headers.get("X-Content-Type-Options") == "nosniff",
                        request_id=bool(rid and _ID_RE.match(rid)),
                        location=resp.headers.get("Location"),
                        response=self.namer(text),
                    )
                )
            return resp.status, text

    async def json(self, method: str, path: str, body: Any = None) -> Any:
        """A call with a JSON body whose answer is parsed (not recorded)."""
        payload = json.dumps(body) if body is not None else None
        status, text = await self.call(method, path, payload, record=False)
        if status >= 300:
            raise AssertionError(f"{method} {path} -> {status} {text}")
        return json.loads(text) if text.strip() else None

    async def clear(self) -> None:
        """Delete every proxy (start of a scenario on a shared real server)."""
        proxies = await self.json("GET", "/proxies")
        for name in proxies:
            await self.call("DELETE", f"/proxies/{quote(name, safe='')}", record=False)

    async def create(self, name: str, upstream: str, **extra: Any) -> int:
        """Create a proxy on a free loopback port; returns the port it listens on."""
        spec = {"name": name, "upstream": upstream, "listen": "127.0.0.1:0", **extra}
        proxy = await self.json("POST", "/proxies", spec)
        return int(proxy["listen"].rsplit(":", 1)[1])

    async def toxic(self, proxy: str, **spec: Any) -> Any:
        """Add a toxic."""
        return await self.json("POST", f"/proxies/{proxy}/toxics", spec)


@contextlib.asynccontextmanager
async def api_client(base: str) -> AsyncIterator[ApiClient]:
    """An :class:`ApiClient` with its own session (one connection, no keep-alive surprises)."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        yield ApiClient(base, http)


# ------------------------------------------------------------------------------------- upstreams
class Upstream:
    """A loopback TCP server with a chosen behaviour; ``addr`` is its ``127.0.0.1:port``."""

    def __init__(self, mode: str = "echo", payload: bytes = b"") -> None:
        self.mode = mode
        self.payload = payload
        self.server: asyncio.Server | None = None
        self.received = bytearray()
        self.events: list[tuple[str, float]] = []
        self.writers: list[asyncio.StreamWriter] = []

    @property
    def addr(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> Upstream:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        loop = asyncio.get_running_loop()
        try:
            if self.mode == "send_close":
                writer.write(self.payload)
                await writer.drain()
                writer.close()
                return
            while True:
                data = await reader.read(65536)
                if not data:
                    self.events.append(("eof", loop.time()))
                    break
                self.received += data
                self.events.append(("data", loop.time()))
                if self.mode == "echo":
                    writer.write(data)
                    await writer.drain()
            if self.mode == "echo":
                writer.close()
        except (ConnectionError, OSError):
            self.events.append(("reset", loop.time()))
            writer.transport.abort()


@dataclass
class Observed:
    """What a client saw on one connection."""

    reads: list[tuple[float, int]] = field(default_factory=list)  # (ms since start, bytes)
    end: str = "open"  # "eof" | "rst" | "open"
    end_ms: float | None = None

    @property
    def total(self) -> int:
        return sum(n for _, n in self.reads)


async def observe(
    reader: asyncio.StreamReader, start: float, until_s: float, stop_after: int | None = None
) -> Observed:
    """Read until EOF/RST or ``until_s`` seconds after ``start`` (or ``stop_after`` bytes)."""
    loop = asyncio.get_running_loop()
    seen = Observed()
    while True:
        left = start + until_s - loop.time()
        if left <= 0:
            return seen
        try:
            data = await asyncio.wait_for(reader.read(65536), left)
        except TimeoutError:
            return seen
        except (ConnectionResetError, BrokenPipeError):
            seen.end, seen.end_ms = "rst", (loop.time() - start) * 1000
            return seen
        now_ms = (loop.time() - start) * 1000
        if not data:
            seen.end, seen.end_ms = "eof", now_ms
            return seen
        seen.reads.append((now_ms, len(data)))
        if stop_after is not None and seen.total >= stop_after:
            return seen


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client connection to a proxy on loopback."""
    return await asyncio.open_connection("127.0.0.1", port)


def load_json(path: Path) -> dict[str, Any]:
    """A recorded expectations file (empty when missing)."""
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
