"""Every API scenario gives the same status, body and headers as toxiproxy-server 2.12.0.

Each scenario (tests/proxy/scenarios.py) runs against the embedded server and is compared with the answers
recorded from the real server (tests/proxy/expectations/api.json); with the real binary present it also
runs against a live real server and the two are compared directly. Ports are normalised to placeholders
in order of appearance, request ids are checked for presence and shape only.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from faultproxy.server import EmbeddedToxiproxy
from tests.proxy.scenarios import API_SCENARIOS, UNSAFE_EMBEDDED_STATUS, run_api_scenario
from tests.proxy.support import API_EXPECTATIONS, api_client, load_json

pytestmark = pytest.mark.timeout(60)

RECORDED: dict[str, Any] = load_json(API_EXPECTATIONS).get("scenarios", {})


def assert_same(expected: list[dict[str, Any]], got: list[dict[str, Any]], what: str) -> None:
    """Exchange-by-exchange comparison with a readable first difference."""
    for i, (want, have) in enumerate(zip(expected, got, strict=False)):
        if want != have:
            diff = {
                k: {"expected": want.get(k), "got": have.get(k)} for k in want if want.get(k) != have.get(k)
            }
            raise AssertionError(
                f"{what}: exchange {i} {want['method']} {want['path']} body={want['body']!r} differs:\n"
                + json.dumps(diff, indent=1)
            )
    assert len(expected) == len(got), f"{what}: {len(expected)} exchanges expected, {len(got)} made"


async def run_on(url: str, name: str) -> list[dict[str, Any]]:
    async with api_client(url) as client:
        return await run_api_scenario(client, name)


def test_recorded_expectations_cover_every_scenario() -> None:
    assert set(API_SCENARIOS) | {"unsafe"} <= set(RECORDED), "re-run tests/proxy/record_expectations.py"


@pytest.mark.parametrize("name", list(API_SCENARIOS))
async def test_api_matches_recorded_real_server(name: str, embedded: EmbeddedToxiproxy) -> None:
    assert_same(RECORDED[name], await run_on(embedded.api_url, name), f"embedded vs recorded {name}")


@pytest.mark.parametrize("name", list(API_SCENARIOS))
async def test_api_via_process_on_uvloop_matches_recorded(name: str, process_url: str) -> None:
    assert_same(RECORDED[name], await run_on(process_url, name), f"`tickstorm proxy` vs recorded {name}")


@pytest.mark.differential
@pytest.mark.parametrize("name", list(API_SCENARIOS))
async def test_api_identical_to_live_real_server(
    name: str, embedded: EmbeddedToxiproxy, live_real: str
) -> None:
    real = await run_on(live_real, name)
    assert_same(real, await run_on(embedded.api_url, name), f"embedded vs live real {name}")


async def test_unsafe_toxic_settings_are_refused_where_the_real_server_accepts_them(
    embedded: EmbeddedToxiproxy,
) -> None:
    got = await run_on(embedded.api_url, "unsafe")
    assert [e["status"] for e in got] == UNSAFE_EMBEDDED_STATUS
    for exchange in got:
        if exchange["status"] == 400:
            assert json.loads(exchange["response"])["error"].startswith("bad request body: ")
            assert "toxiproxy-server" in exchange["response"]
    real = RECORDED["unsafe"]
    assert [e["status"] for e in real] == [201, 200, 200, 200, 200, 200, 200, 200, 200]
    # Everything else about those exchanges is identical.
    for want, have in zip(real, got, strict=True):
        if want["status"] == have["status"]:
            assert want == have


@pytest.mark.differential
async def test_unsafe_settings_still_accepted_by_live_real_server(live_real: str) -> None:
    real = await run_on(live_real, "unsafe")
    assert [e["status"] for e in real] == [201, 200, 200, 200, 200, 200, 200, 200, 200]
