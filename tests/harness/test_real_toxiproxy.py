"""Every scenario gives identical verdicts against the embedded proxy and the real toxiproxy-server."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.runner import run_scenario
from harness.scenario import load_scenario, scenario_files
from harness.toxiproxy_endpoint import run_binary
from tests.proxy.support import REAL_BINARY

pytestmark = [pytest.mark.differential, pytest.mark.timeout(180)]

SCENARIOS = Path(__file__).parents[2] / "scenarios"
# The whole suite but the memory soak: its faults (proxy down/up) are venue_down's, and two more minute-long
# soaks next to the rest of the suite on two cores measure the neighbours' memory pressure, not the proxy.
NAMES = [p.name for p in scenario_files([SCENARIOS]) if p.name != "memory_soak.py"]


@pytest.mark.skipif(not REAL_BINARY.is_file(), reason=f"real toxiproxy-server not found at {REAL_BINARY}")
@pytest.mark.parametrize("name", NAMES)
async def test_identical_verdicts_on_the_real_server(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(SCENARIOS / name)
    embedded = await run_scenario(scenario, seed=7)
    async with run_binary(str(REAL_BINARY)) as real:
        monkeypatch.setenv("TOXIPROXY_URL", real.url)
        against_real = await run_scenario(load_scenario(SCENARIOS / name), seed=7)
    assert embedded.proxy_kind == "embedded" and against_real.proxy_kind == "env"
    verdicts = [(v.check, v.ok) for v in embedded.verdicts]
    assert verdicts == [(v.check, v.ok) for v in against_real.verdicts]
    failed = [(v.check, v.summary) for r in (embedded, against_real) for v in r.failed()]
    assert embedded.ok and against_real.ok, failed
