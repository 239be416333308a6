"""The venue control API over HTTP: every route, and clear 400s for bad requests."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.venue.conftest import VenueFactory, collect_until_done, connect

pytestmark = pytest.mark.timeout(60)


async def test_state_streams_and_book(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, aiohttp.ClientSession() as http:
        state = await (await http.get(f"{venue.control_url}/state")).json()
        assert state["venue"] == "binance-spot" and state["ws"] == venue.ws_url
        assert state["replay_started"] is False and state["symbols"] == 4
        streams = await (await http.get(f"{venue.control_url}/streams")).json()
        assert "nknusdt@depth@100ms" in streams
        book = await (await http.get(f"{venue.control_url}/book/NKNUSDT", params={"limit": "5"})).json()
        assert len(book["bids"]) == 5 and book["id"] == 499869752
        missing = await http.get(f"{venue.control_url}/book/NOPE")
        assert missing.status == 404


async def test_faults_lifecycle_over_http(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, aiohttp.ClientSession() as http:
        url = f"{venue.control_url}/faults"
        created = await http.post(url, json={"kind": "drop", "stream": "nknusdt@*", "count": 3})
        assert created.status == 201
        rule = await created.json()
        assert rule["kind"] == "drop" and rule["count"] == 3
        assert [r["id"] for r in await (await http.get(url)).json()] == [rule["id"]]
        assert (await http.delete(f"{url}/{rule['id']}", json={})).status == 200
        assert (await http.delete(f"{url}/{rule['id']}", json={})).status == 404
        assert await (await http.get(url)).json() == []
        assert any(e.event == "fault" for e in venue.history.events)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/faults", {"kind": "explode"}, "unknown message fault"),
        ("/faults", {"kind": "drop", "count": -1}, "count must be a positive integer"),
        ("/faults", {"kind": "drop", "when": 3}, "unknown field(s): when"),
        ("/faults", ["drop"], "body must be a JSON object"),
        ("/replay/speed", {"speed": 1000}, "speed"),
        ("/replay/speed", {}, "speed is required"),
        ("/replay/stall", {"duration_s": "long"}, "duration_s must be a number"),
        ("/connections/close", {"code": 1005}, "not a close code a server may send"),
        ("/gap", {"symbol": "NOPE", "skip": 3}, "unknown symbol"),
        ("/rest-faults", {"status": 200}, "status must be an HTTP error status"),
        ("/rest-faults", {"colour": "red"}, "unknown field(s): colour"),
    ],
)
async def test_bad_requests_get_a_clear_400(
    venue_factory: VenueFactory, path: str, body: object, message: str
) -> None:
    async with venue_factory() as venue, aiohttp.ClientSession() as http:
        resp = await http.post(venue.control_url + path, json=body)
        assert resp.status == 400
        assert message in (await resp.json())["error"]


async def test_invalid_json_body(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{venue.control_url}/faults", data=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert resp.status == 400 and "not valid JSON" in (await resp.json())["error"]


async def test_speed_change_and_replay_start_over_http(venue_factory: VenueFactory) -> None:
    async with (
        venue_factory(speed=1.0) as venue,
        aiohttp.ClientSession() as http,
        connect(f"{venue.ws_url}/ws/nknusdt@depth@100ms") as ws,
    ):
        assert (
            await (await http.post(f"{venue.control_url}/replay/speed", json={"speed": None})).json()
        ) == {"speed": None}
        await http.post(f"{venue.control_url}/replay/start", json={})
        frames = await collect_until_done(venue, ws)  # 30 s of recording, as fast as possible
        assert len(frames) == 150
        events = [e.event for e in venue.history.events]
        assert "speed" in events and "replay_start" in events


async def test_rest_fault_set_and_clear(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, aiohttp.ClientSession() as http:
        resp = await http.post(f"{venue.control_url}/rest-faults", json={"status": 503, "count": 1})
        assert resp.status == 200
        first = await http.get(f"{venue.rest_url}/api/v3/ping")
        second = await http.get(f"{venue.rest_url}/api/v3/ping")
        assert (first.status, second.status) == (503, 200)
        await http.post(f"{venue.control_url}/rest-faults", json={"status": 500})
        assert (await http.get(f"{venue.rest_url}/api/v3/ping")).status == 500
        await http.delete(f"{venue.control_url}/rest-faults", json={})
        assert (await http.get(f"{venue.rest_url}/api/v3/ping")).status == 200


async def test_close_one_connection_keeps_the_other(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, aiohttp.ClientSession() as http:
        async with connect(f"{venue.ws_url}/ws") as a, connect(f"{venue.ws_url}/ws") as b:
            await asyncio.sleep(0.05)
            ids = sorted(
                int(k) for k in (await (await http.get(f"{venue.control_url}/state")).json())["connections"]
            )
            resp = await http.post(
                f"{venue.control_url}/connections/close", json={"code": 4000, "connection": ids[0]}
            )
            assert (await resp.json()) == {"closed": [ids[0]]}
            await asyncio.wait_for(a.wait_closed(), 3)
            assert a.close_code == 4000
            assert b.close_code is None
