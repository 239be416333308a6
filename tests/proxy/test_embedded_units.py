"""Unit and behaviour tests of the embedded server's own parts and of its deliberate differences.

Go JSON and address quirks, slicer cut properties, seeded reproducibility, the loopback-only upstream rule,
no leaked sockets or tasks, /metrics switch, config loading, and the server selection (env / binary /
embedded).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import socket
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultproxy import gojson
from faultproxy.addr import AddrError, is_loopback_host, split_host_port
from faultproxy.link import Sink
from faultproxy.model import PROXY_SCHEMA, unsafe_attributes
from faultproxy.server import ConfigError, EmbeddedToxiproxy
from faultproxy.toxics import slicer_cuts
from harness.toxiproxy_endpoint import toxiproxy_endpoint
from tests.proxy.support import Upstream, api_client, real_binary

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.5, "0.5"),
        (0.1, "0.1"),
        (1e-7, "1e-7"),
        (123456789, "123456790"),
        (1e21, "1e+21"),
        (2.5, "2.5"),
        (0.0, "0"),
        (-1.0, "-1"),
        (1.5e-6, "0.0000015"),
        (3.4e38, "3.4e+38"),
    ],
)
def test_float32_printed_like_go(value: float, text: str) -> None:
    assert gojson.format_float32(gojson.float32_from_literal(repr(float(value))) or 0.0) == text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "EOF"),
        (b" \n", "EOF"),
        (b"{", "unexpected EOF"),
        (b"{n", "invalid character 'n' looking for beginning of object key string"),
        (b'{"a" 1}', "invalid character '1' after object key"),
        (b'{"a":1 2}', "invalid character '2' after object key:value pair"),
        (b"[1 2]", "invalid character '2' after array element"),
        (b"trux", "invalid character 'x' in literal true (expecting 'e')"),
        (b'"\\x"', "invalid character 'x' in string escape code"),
        (b"\x01", "invalid character '\\x01' looking for beginning of value"),
        (b"\xc3", "invalid character '\u00c3' looking for beginning of value"),
        (b"'", "invalid character '\\'' looking for beginning of value"),
        (b"[" * 10001, "invalid character '[' exceeded max depth"),
        (b'{"a":' * 10000 + b"{", "invalid character '{' exceeded max depth"),
        (b"[" * 10000, "unexpected EOF"),
    ],
)
def test_scanner_errors_use_go_wording(body: bytes, message: str) -> None:
    with pytest.raises(gojson.JSONError) as err:
        gojson.scan(body)
    assert str(err.value) == message


@pytest.mark.parametrize("opener", ["[", '{"k":'])
def test_nesting_up_to_gos_limit_is_read_without_python_recursion(opener: str) -> None:
    """Go accepts 10000 levels; the scanner and interface{} decoding must not hit Python's limit."""
    closer = "]" if opener == "[" else "}"
    depth = gojson.MAX_DEPTH
    body = (opener * depth + "null" + closer * depth).encode()
    value = gojson.decode(gojson.scan(body), gojson.GoAny())
    for _level in range(depth):
        value = value[0] if opener == "[" else value["k"]
    assert value is None
    with pytest.raises(gojson.JSONError, match="exceeded max depth"):
        gojson.scan(b"[" + body + b"]")


def test_scanner_keeps_duplicate_keys_and_order_in_nested_containers() -> None:
    body = b'{"a":[1,{"b":null,"b":[2,[]]},{}],"c":"x"} tail'
    value = gojson.scan(body)
    assert value == [
        ("a", [gojson.Number("1"), [("b", gojson.NULL), ("b", [gojson.Number("2"), []])], []]),
        ("c", "x"),
    ]
    assert gojson.decode(value, gojson.GoAny()) == {"a": [1.0, {"b": [2.0, []]}, {}], "c": "x"}


def test_struct_decoding_is_case_insensitive_and_keeps_first_type_error() -> None:
    current = {"name": "", "listen": "", "upstream": "", "enabled": True, "Logger": None}
    got = gojson.parse_body(b'{"NAME":"a","Upstream":"b","x":1} tail', PROXY_SCHEMA, current)
    assert got["name"] == "a" and got["upstream"] == "b" and got["enabled"] is True
    with pytest.raises(gojson.JSONError, match=r"Proxy\.name of type string"):
        gojson.parse_body(b'{"name":1,"enabled":"x"}', PROXY_SCHEMA, current)


@pytest.mark.parametrize(
    ("addr", "message"),
    [
        ("garbage", "address garbage: missing port in address"),
        ("1:2:3", "address 1:2:3: too many colons in address"),
        ("[::1:0", "address [::1:0: missing ']' in address"),
        ("[::1]x:0", "address [::1]x:0: missing port in address"),
        ("a]:0", "address a]:0: unexpected ']' in address"),
    ],
)
def test_split_host_port_errors(addr: str, message: str) -> None:
    with pytest.raises(AddrError) as err:
        split_host_port(addr)
    assert str(err.value) == message


def test_loopback_rule() -> None:
    for ok in ("127.0.0.1:80", "127.9.9.9:1", "localhost:5", "[::1]:5", ":8080"):
        assert is_loopback_host(ok), ok
    for bad in ("10.0.0.1:80", "example.com:443", "x", "[::]:1", "0.0.0.0:1"):
        assert not is_loopback_host(bad), bad


def test_unsafe_attributes_are_named() -> None:
    assert unsafe_attributes("slicer", {"average_size": 0, "size_variation": 0, "delay": 0})
    assert unsafe_attributes("slicer", {"average_size": 2, "size_variation": 4, "delay": 0})
    assert unsafe_attributes("slicer", {"average_size": 10, "size_variation": 3, "delay": 0}) is None
    assert unsafe_attributes("bandwidth", {"rate": -1})
    assert unsafe_attributes("bandwidth", {"rate": 0}) is None
    assert unsafe_attributes("latency", {"latency": -5, "jitter": 0}) is None


@settings(max_examples=300, deadline=None)
@given(
    length=st.integers(1, 5000),
    average=st.integers(1, 200),
    variation=st.integers(-50, 201),
    seed=st.integers(0, 2**32),
)
def test_slicer_cuts_cover_the_data_in_order(length: int, average: int, variation: int, seed: int) -> None:
    attrs = {"average_size": average, "size_variation": variation, "delay": 0}
    if unsafe_attributes("slicer", attrs):
        return
    bounds = slicer_cuts(0, length, average, variation, random.Random(seed))
    assert bounds[0] == 0 and bounds[-1] == length
    pieces = list(itertools.pairwise(bounds))
    assert all(a <= b for a, b in pieces)
    assert all(b - a <= average + max(variation, 0) for a, b in pieces)


async def _toxicity_pattern(seed: int) -> list[str]:
    """Which behaviour (latency or noop) each of 16 connections' downstream link drew, in order."""
    async with (
        EmbeddedToxiproxy(seed=seed) as server,
        api_client(server.api_url) as api,
        Upstream("echo") as up,
    ):
        port = await api.create("p", up.addr)
        await api.toxic("p", type="latency", toxicity=0.5, attributes={"latency": 1})
        assert server.collection is not None
        links = server.collection.get("p").toxics.links
        seen: set[Any] = set()
        pattern, writers = [], []
        for _ in range(16):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"x")
            await asyncio.wait_for(reader.readexactly(1), 5)  # both links have started
            (new,) = [link for link in links - seen if link.direction == "downstream"]
            seen |= links
            task = new.stubs[0].task
            assert task is not None
            pattern.append(task.get_coro().__name__)  # type: ignore[union-attr]
            writers.append(writer)
        for writer in writers:
            writer.close()
        return pattern


async def _slicer_pieces(seed: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the pieces a slicer toxic wrote for 300 bytes (recorded at the link's sink)."""
    pieces: list[int] = []
    original = Sink.put

    def record(self: Sink, chunk: Any) -> None:
        if chunk is not None and self.link.direction == "downstream":
            pieces.append(len(chunk.data))
        original(self, chunk)

    monkeypatch.setattr(Sink, "put", record)
    async with (
        EmbeddedToxiproxy(seed=seed) as server,
        api_client(server.api_url) as api,
        Upstream("send_close", payload=bytes(300)) as up,
    ):
        port = await api.create("p", up.addr)
        await api.toxic(
            "p", type="slicer", attributes={"average_size": 20, "size_variation": 15, "delay": 100}
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert len(await asyncio.wait_for(reader.read(), 5)) == 300
        writer.close()
    monkeypatch.undo()
    return pieces


async def test_seed_makes_toxicity_draws_and_slicer_cuts_reproducible(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second, other = (
        await _toxicity_pattern(42),
        await _toxicity_pattern(42),
        await _toxicity_pattern(43),
    )
    assert first == second and set(first) == {"latency", "noop"}
    assert other != first
    cuts = await _slicer_pieces(7, monkeypatch)
    assert cuts == await _slicer_pieces(7, monkeypatch) and sum(cuts) == 300 and len(cuts) > 10
    assert cuts != await _slicer_pieces(8, monkeypatch)


async def test_remote_upstreams_are_refused_unless_allowed() -> None:
    async with EmbeddedToxiproxy() as server, api_client(server.api_url) as api:
        status, text = await api.call("POST", "/proxies", '{"name":"r","upstream":"192.0.2.7:80"}')
        assert status == 400 and "not a loopback address" in text
        status, _ = await api.call("POST", "/populate", '[{"name":"r","upstream":"example.com:80"}]')
        assert status == 400
        await api.create("ok", "127.0.0.1:9")
        status, text = await api.call("PATCH", "/proxies/ok", '{"upstream":"203.0.113.5:1"}')
        assert status == 400 and "allow_remote_upstream" in text
        assert (await api.json("GET", "/proxies/ok"))["upstream"] == "127.0.0.1:9"
    async with EmbeddedToxiproxy(allow_remote_upstream=True) as server, api_client(server.api_url) as api:
        body = '{"name":"r","upstream":"192.0.2.7:80","listen":"127.0.0.1:0","enabled":false}'
        assert (await api.call("POST", "/proxies", body))[0] == 201


def _listening() -> set[int]:
    conns = psutil.Process().net_connections(kind="tcp")
    return {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN}


async def test_delete_leaves_no_socket_and_no_task_even_with_busy_toxics() -> None:
    async with EmbeddedToxiproxy() as server, api_client(server.api_url) as api, Upstream("echo") as up:
        before = _listening()
        baseline = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        ports = [await api.create(f"p{i}", up.addr) for i in range(3)]
        await api.toxic("p0", type="bandwidth", attributes={"rate": 0})
        await api.toxic("p1", type="latency", attributes={"latency": 5000})
        await api.toxic("p2", type="timeout", attributes={"timeout": 0})
        await api.toxic(
            "p2", type="slicer", stream="upstream", attributes={"average_size": 1, "delay": 10**6}
        )
        clients = [await asyncio.open_connection("127.0.0.1", port) for port in ports]
        for _, writer in clients:
            writer.write(b"x" * 5000)
        await asyncio.sleep(0.2)
        assert set(ports) <= _listening()
        for i in range(3):
            await api.call("DELETE", f"/proxies/p{i}", record=False)
        for reader, writer in clients:
            assert await asyncio.wait_for(reader.read(), 5) in (b"", b"x" * 5000)
            writer.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3
        while loop.time() < deadline:
            left = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} - baseline
            if not left:
                break
            await asyncio.sleep(0.05)
        assert not left, left
        assert _listening() - before == set()
        assert server.collection is not None and not server.collection.proxies


async def test_metrics_can_be_switched_off_like_the_real_default() -> None:
    async with EmbeddedToxiproxy(proxy_metrics=False) as server, api_client(server.api_url) as api:
        status, text = await api.call("GET", "/metrics")
        assert (status, text) == (404, "404 page not found\n")


async def test_config_list_is_populated_at_start_and_errors_are_config_errors(tmp_path: Path) -> None:
    config: list[dict[str, Any]] = [{"name": "c", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"}]
    async with EmbeddedToxiproxy(config=config) as server:
        assert server.collection is not None and server.collection.get("c").enabled
    with pytest.raises(ConfigError, match="missing required field: name at proxy 1"):
        async with EmbeddedToxiproxy(config=[{"upstream": "127.0.0.1:9"}]):
            pass
    bad = tmp_path / "bad.json"
    bad.write_text("[1")
    with pytest.raises(ConfigError, match="not valid JSON"):
        async with EmbeddedToxiproxy(config=bad):
            pass
    # Nested as deep as /populate accepts (Go's limit, deeper than orjson's 1024): loaded the same way.
    deep = tmp_path / "deep.json"
    nested = "[" * 9998 + "]" * 9998
    deep.write_text(f'[{{"name":"d","upstream":"127.0.0.1:9","listen":"127.0.0.1:0","x":{nested}}}]')
    async with EmbeddedToxiproxy(config=deep) as server:
        assert server.collection is not None and server.collection.get("d").enabled
    deep.write_text(f'[{{"x":[{nested}]}}]')
    with pytest.raises(ConfigError, match=r"not valid JSON: invalid character '\[' exceeded max depth"):
        async with EmbeddedToxiproxy(config=deep):
            pass


async def _version(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/version") as resp:
        return await resp.text()


async def test_selection_prefers_toxiproxy_url() -> None:
    async with EmbeddedToxiproxy() as server:
        env = {"TOXIPROXY_URL": server.api_url + "/", "PATH": ""}
        async with toxiproxy_endpoint(env=env) as ep:
            assert (ep.kind, ep.url) == ("env", server.api_url)
            assert "2.12.0" in await _version(ep.url)


async def test_selection_falls_back_to_embedded() -> None:
    async with toxiproxy_endpoint(env={"PATH": "/nonexistent"}) as ep:
        assert ep.kind == "embedded" and ep.server is not None
        assert ep.url.startswith("http://127.0.0.1:")
        assert "2.12.0" in await _version(ep.url)


async def test_selection_starts_a_toxiproxy_server_found_on_path(tmp_path: Path) -> None:
    """A stand-in `toxiproxy-server` on PATH (translating Go-style flags to `tickstorm proxy`)."""
    script = tmp_path / "toxiproxy-server"
    script.write_text(
        "#!/bin/sh\n# args: -host H -port P\n"
        f'exec "{sys.executable}" -m tickstorm proxy --host "$2" --port "$4"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    async with toxiproxy_endpoint(env={"PATH": str(tmp_path)}) as ep:
        assert ep.kind == "binary" and ep.binary == str(script)
        assert "2.12.0" in await _version(ep.url)
    with pytest.raises(aiohttp.ClientError):
        await _version(ep.url)


@pytest.mark.differential
async def test_selection_runs_the_real_binary_from_path(tmp_path: Path) -> None:
    binary = real_binary()
    if binary is None:
        pytest.skip("real toxiproxy-server not available")
    os.symlink(binary, tmp_path / "toxiproxy-server")
    async with toxiproxy_endpoint(env={"PATH": str(tmp_path)}) as ep:
        assert ep.kind == "binary"
        assert await _version(ep.url) == '{"version": "2.12.0"}\n'


@contextlib.contextmanager
def _greeting_server_thread() -> Iterator[int]:
    """An upstream in its own thread that sends a greeting the instant it accepts, then closes."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.sendall(b"hello from upstream")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        server.close()


async def _greeting_upstream_connections(count: int) -> list[bytes]:
    with _greeting_server_thread() as upstream_port:
        async with EmbeddedToxiproxy() as server, api_client(server.api_url) as api:
            port = await api.create("p", f"127.0.0.1:{upstream_port}")

            async def one() -> bytes:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                try:
                    return await asyncio.wait_for(reader.read(), 5)
                finally:
                    writer.close()

            results = []
            for _ in range(count):
                results.append(await one())
            return results


def test_upstream_bytes_sent_before_the_links_start_are_not_lost_on_uvloop() -> None:
    """uvloop may deliver the upstream's first bytes (and its close) before the links exist."""
    import uvloop

    assert uvloop.run(_greeting_upstream_connections(60)) == [b"hello from upstream"] * 60


async def test_upstream_bytes_sent_before_the_links_start_are_not_lost() -> None:
    assert await _greeting_upstream_connections(60) == [b"hello from upstream"] * 60
