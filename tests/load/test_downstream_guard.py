"""The downstream side kept local: loopback Host + JSON body type on mutations, no cross-site WebSocket,
and a header-read timeout on the HTTP API (tickstorm.http_guard)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from feed.downstream.http_api import HttpApi, build_http_app
from feed.downstream.metrics import DownstreamMetrics
from feed.downstream.server import DownstreamOptions, DownstreamServer

pytestmark = pytest.mark.timeout(60)


class _NoFeed:
    delivered = 0

    def book(self, instrument: str, depth: int | None = None) -> Any:
        return None

    def book_stream(self, instrument: str) -> str | None:
        return None

    def book_id(self, instrument: str) -> int | None:
        return None


def _api(header_timeout_s: float = 20.0) -> HttpApi:
    app = build_http_app(
        health=list,
        book=lambda instrument, depth: None,
        instruments=frozenset,
        metrics=lambda: b"",
        stats=dict,
    )
    return HttpApi(app, "127.0.0.1", 0, header_timeout_s=header_timeout_s)


async def test_http_api_mutations_need_json_and_a_loopback_host() -> None:
    api = _api()
    await api.start()
    try:
        async with aiohttp.ClientSession() as http:
            plain = await http.post(f"{api.url}/stats", data=b"{}", headers={"Content-Type": "text/plain"})
            assert plain.status == 415 and "application/json" in (await plain.json())["error"]
            foreign = await http.post(f"{api.url}/stats", json={}, headers={"Host": "evil.example"})
            assert foreign.status == 403 and "loopback" in (await foreign.json())["error"]
            local = await http.post(f"{api.url}/stats", json={}, headers={"Host": "localhost:1"})
            assert local.status == 405  # through the guard; the API has no mutating route
            assert (await http.get(f"{api.url}/stats", headers={"Host": "feed.example"})).status == 200
    finally:
        await api.stop()


async def test_http_api_closes_half_open_connections() -> None:
    api = _api(header_timeout_s=0.5)
    await api.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
        writer.write(b"GET /stats HTTP/1.1\r\n")  # the head never ends
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 15) == b""
        writer.close()
    finally:
        await api.stop()


async def test_websocket_refuses_a_foreign_origin() -> None:
    server = DownstreamServer(
        _NoFeed(), DownstreamOptions(http_port=None), metrics=DownstreamMetrics(), instruments=frozenset
    )
    async with server:
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(server.url, origin="https://evil.example"):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403
        for origin in (None, "http://127.0.0.1:8000", "http://localhost", "http://[::1]:3000"):
            async with websockets.connect(server.url, origin=origin) as ws:  # type: ignore[arg-type]
                assert b"welcome" in (await asyncio.wait_for(ws.recv(), 5)).encode()
