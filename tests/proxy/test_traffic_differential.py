"""Every toxic does the same thing to real traffic as in toxiproxy-server 2.12.0.

Each traffic scenario (tests/proxy/scenarios.py) drives loopback connections through a proxy and reports
what the client saw: bytes delivered, EOF or RST, and timings. The embedded server's observations are
compared with those recorded from the real server (expectations/traffic.json) and, when the binary is
present, with a live run of the same scenario on the real server: exactly for bytes and close kinds,
within a tolerance for timings, within a range for random draws.
"""

from __future__ import annotations

from typing import Any

import pytest

from faultproxy.server import EmbeddedToxiproxy
from tests.proxy.scenarios import EXACT, TRAFFIC, TRAFFIC_SPECS, compare
from tests.proxy.support import TRAFFIC_EXPECTATIONS, api_client, load_json

pytestmark = pytest.mark.timeout(60)

RECORDED: dict[str, Any] = load_json(TRAFFIC_EXPECTATIONS).get("scenarios", {})


async def observe_on(url: str, name: str) -> dict[str, Any]:
    async with api_client(url) as client:
        await client.clear()
        try:
            return await TRAFFIC[name](client)
        finally:
            await client.clear()


async def checked(url: str, name: str, expected: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Observe ``name`` on ``url`` and compare; a timing-only miss is measured once more (a loaded CI
    machine can stall a process for tens of ms), any other difference fails at once."""
    observed = await observe_on(url, name)
    problems = compare(expected, observed, TRAFFIC_SPECS[name])
    timing_only = problems and all(TRAFFIC_SPECS[name][p.split(":")[0]] != EXACT for p in problems)
    if timing_only:
        observed = await observe_on(url, name)
        problems = compare(expected, observed, TRAFFIC_SPECS[name])
    return observed, problems


def test_recorded_expectations_cover_every_scenario() -> None:
    assert set(TRAFFIC) <= set(RECORDED), "re-run tests/proxy/record_expectations.py"
    for name, observed in RECORDED.items():
        assert compare(observed, observed, TRAFFIC_SPECS[name]) == [], name  # ranges hold for the real one


@pytest.mark.parametrize("name", list(TRAFFIC))
async def test_traffic_matches_recorded_real_server(name: str, embedded: EmbeddedToxiproxy) -> None:
    observed, problems = await checked(embedded.api_url, name, RECORDED[name])
    assert not problems, f"{name}: recorded real {RECORDED[name]} vs embedded {observed}: {problems}"


@pytest.mark.parametrize("name", list(TRAFFIC))
async def test_traffic_via_process_on_uvloop_matches_recorded(name: str, process_url: str) -> None:
    observed, problems = await checked(process_url, name, RECORDED[name])
    assert not problems, f"{name}: recorded real {RECORDED[name]} vs `tickstorm proxy` {observed}: {problems}"


@pytest.mark.differential
@pytest.mark.parametrize("name", list(TRAFFIC))
async def test_traffic_same_as_live_real_server(
    name: str, embedded: EmbeddedToxiproxy, live_real: str
) -> None:
    real = await observe_on(live_real, name)
    observed, problems = await checked(embedded.api_url, name, real)
    assert not problems, f"{name}: live real {real} vs embedded {observed}: {problems}"
