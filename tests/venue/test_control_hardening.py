"""The control and REST listeners hardened: every endpoint after traffic, bounded durations, stalls that
end, loopback-only mutations with a JSON body type, a header-read timeout and JSON parser errors."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
import pytest

from mock_venues.base.durations import MAX_DURATION_S
from tests.venue.conftest import VenueFactory, collect_until_done, connect

pytestmark = pytest.mark.timeout(90)

STREAMS = "nknusdt@depth@100ms/nknusdt@aggTrade/lrcbtc@depth@100ms"


async def test_every_control_endpoint_answers_after_traffic(venue_factory: VenueFactory) -> None:
    async with (
        venue_factory() as venue,
        aiohttp.ClientSession() as http,
        connect(f"{venue.ws_url}/stream?streams={STREAMS}") as ws,
    ):
        await http.post(f"{venue.control_url}/replay/start", json={})
        frames = await collect_until_done(venue, ws)
        assert frames and len(venue.history) > 0
        url = venue.control_url
        gets = ("/state", "/streams", "/faults", "/book/NKNUSDT", "/history/summary", "/history", "/timeline")
        for path in gets:
            resp = await http.get(url + path)
            assert resp.status == 200, (path, await resp.text())
            assert resp.content_type == "application/json", path
            await resp.json()
        summary = await (await http.get(f"{url}/history/summary")).json()
        assert sum(summary["per_connection"].values()) == summary["sent"] == len(venue.history)
        for path in ("/replay-streams", "/stream-info"):
            resp = await http.post(url + path, json={"streams": ["nknusdt@depth"]})
            assert resp.status == 200, path


@pytest.mark.parametrize("limit", ["-1", "0", "abc", "1.5", "", "\u0661"])  # the last: a non-ASCII digit
async def test_book_limit_must_be_a_positive_integer(venue_factory: VenueFactory, limit: str) -> None:
    async with venue_factory() as venue, aiohttp.ClientSession() as http:
        resp = await http.get(f"{venue.control_url}/book/NKNUSDT", params={"limit": limit})
        assert resp.status == 400
        assert "limit must be a positive integer" in (await resp.json())["error"]
        one = await (await http.get(f"{venue.control_url}/book/NKNUSDT", params={"limit": "1"})).json()
        assert len(one["bids"]) == 1 and len(one["asks"]) == 1


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/replay/stall", {"duration_s": 1e12}, "duration_s"),
        ("/replay/stall", {"duration_s": MAX_DURATION_S + 1}, "duration_s"),
        ("/faults", {"kind": "silence", "stream": "*", "duration_s": 1e12}, "duration_s"),
        ("/rest-faults", {"delay_s": 1e12}, "delay_s"),
        ("/rest-faults", {"status": 429, "retry_after_s": 10**9}, "retry_after_s"),
    ],
)
async def test_durations_are_bounded(
    venue_factory: VenueFactory, path: str, body: dict[str, Any], field: str
) -> None:
    async with venue_factory() as venue, aiohttp.ClientSession() as http:
        resp = await http.post(venue.control_url + path, json=body)
        assert resp.status == 400
        error = (await resp.json())["error"]
        assert field in error and f"{MAX_DURATION_S:g}" in error, error
        assert not venue.publisher.stalled and venue.faults.rules() == []


async def test_the_maximum_itself_is_accepted(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, aiohttp.ClientSession() as http:
        resp = await http.post(f"{venue.control_url}/replay/stall", json={"duration_s": MAX_DURATION_S})
        assert resp.status == 200 and venue.publisher.stalled


@pytest.mark.parametrize("how", ["resume", "speed", "later stall"])
async def test_a_running_stall_can_be_ended(venue_factory: VenueFactory, how: str) -> None:
    async with venue_factory() as venue, aiohttp.ClientSession() as http:
        url = venue.control_url
        assert (await http.post(f"{url}/replay/stall", json={"duration_s": 3000})).status == 200
        await http.post(f"{url}/replay/start", json={})
        await asyncio.sleep(0.3)
        assert venue.publisher.published <= 1 and not venue.publisher.done.is_set()
        if how == "resume":
            resp = await http.post(f"{url}/replay/resume", json={})
        elif how == "speed":
            resp = await http.post(f"{url}/replay/speed", json={"speed": None})
        else:
            resp = await http.post(f"{url}/replay/stall", json={"duration_s": 0.1})
        assert resp.status == 200, await resp.text()
        await venue.wait_replay_done(30)
        assert not (await (await http.get(f"{url}/state")).json())["stalled"]


async def test_mutations_need_json_and_a_loopback_host(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, aiohttp.ClientSession() as http:
        url = f"{venue.control_url}/replay/stall"
        body = orjson.dumps({"duration_s": 100})
        # A browser's "simple" cross-site request: text/plain body, foreign Origin.
        plain = await http.post(
            url, data=body, headers={"Content-Type": "text/plain", "Origin": "http://evil.example"}
        )
        assert plain.status == 415 and "application/json" in (await plain.json())["error"]
        bare = await http.delete(f"{venue.control_url}/faults")
        assert bare.status == 415
        json_headers = {"Content-Type": "application/json"}
        for host in ("evil.example", "evil.example:80", "10.0.0.1", "127.0.0.1.evil.example"):
            foreign = await http.post(url, data=body, headers={**json_headers, "Host": host})
            assert foreign.status == 403, host
            assert "loopback" in (await foreign.json())["error"]
        assert not venue.publisher.stalled and "stall" not in [e.event for e in venue.history.events]
        for host in ("localhost", "localhost:1234", "127.0.0.1:9", "[::1]:80", "LOCALHOST"):
            ok = await http.post(
                f"{venue.control_url}/replay/stall",
                data=orjson.dumps({"duration_s": 0.01}),
                headers={**json_headers, "Host": host},
            )
            assert ok.status == 200, host
        # Reads stay open to any client.
        assert (await http.get(f"{venue.control_url}/state", headers={"Host": "evil.example"})).status == 200


async def _closed_within(url: str, timeout_s: float) -> bool:
    """Open a connection, send half a request head, and wait for the server to close it."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(b"GET /state HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: the head never ends
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout_s)
        return data == b"" or reader.at_eof()
    except TimeoutError:
        return False
    finally:
        writer.close()


async def test_half_open_connections_are_closed(venue_factory: VenueFactory) -> None:
    async with venue_factory(http_header_timeout_s=0.5) as venue:
        results = await asyncio.gather(
            *(_closed_within(u, 15.0) for u in [venue.control_url, venue.rest_url] * 5)
        )
        assert all(results), results


async def test_parser_errors_are_json(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, aiohttp.ClientSession() as http:
        long_query = "x" * 20_000
        rest = await http.get(f"{venue.rest_url}/api/v3/depth?symbol=NKNUSDT&pad={long_query}")
        assert rest.status == 400 and rest.content_type == "application/json"
        body = await rest.json()
        assert body["code"] == -1000 and isinstance(body["msg"], str) and body["msg"]
        header = await http.get(f"{venue.rest_url}/api/v3/ping", headers={"X-Pad": long_query})
        assert header.status == 400 and (await header.json())["code"] == -1000
        control = await http.get(f"{venue.control_url}/state?pad={long_query}")
        assert control.status == 400 and "error" in await control.json()
