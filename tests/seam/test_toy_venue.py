"""The seam, proven: a toy venue living only in tests/plugins/toy_venue (a feed adapter and a mock venue,
registered by name) runs a chaos scenario through the harness, the checkers and the reports, in one
process and as processes, with no edit anywhere else."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson
import pytest

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
sys.path.insert(0, str(PLUGINS))

import toy_venue  # noqa: E402  (registers the toy venue on both seams)

from feed import registry as feed_registry  # noqa: E402
from harness.runner import run_scenario  # noqa: E402
from harness.scenario import Scenario, VenueSpec, at, proxy_down, proxy_up  # noqa: E402
from mock_venues import registry as mock_registry  # noqa: E402
from reports.files import write_run  # noqa: E402
from reports.junit import junit_xml  # noqa: E402

pytestmark = pytest.mark.timeout(240)

STREAM = "trades.BTCUSDT"


def outage() -> Scenario:
    return Scenario(
        name="toy venue outage",
        description="the toy venue's WebSocket proxy is down for 1.5 s (no REST: the hole is a reported gap)",
        speed=10.0,
        duration_s=5.0,
        venues=[VenueSpec(venue="toy", symbols=["btcusdt"], streams=["trades"])],
        timeline=[at(1.0, proxy_down("ws")), at(2.5, proxy_up("ws"))],
    )


def test_the_toy_venue_is_registered_on_both_sides_by_name() -> None:
    assert toy_venue.ToyVenue is mock_registry.venue_class("toy")
    assert feed_registry.adapter("toy").name == "toy"
    assert "toy" in mock_registry.names() and "toy" in feed_registry.names()


@pytest.mark.parametrize("mode", ["in-process", "processes"])
async def test_a_toy_venue_chaos_scenario_is_checked_and_reported(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Venue and feed processes find the plugin the way a user's would: TICKSTORM_PLUGINS and PYTHONPATH.
    monkeypatch.setenv("TICKSTORM_PLUGINS", "toy_venue")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PLUGINS), os.environ.get("PYTHONPATH", "")]))
    result = await run_scenario(outage(), seed=3, mode=mode, keep_run=True)
    assert result.error is None, result.error
    assert result.ok, [(v.check, v.summary, v.evidence) for v in result.failed()]
    checks = {v.check: v for v in result.verdicts}
    loss = checks[f"no unreported loss [{STREAM}]"]
    assert loss.evidence["published"] > 100 and loss.evidence["delivered"] > 100
    assert loss.evidence["reported_gaps"] >= 1  # the outage's trades: no REST to backfill them, so a gap
    assert f"no duplicate delivery [{STREAM}]" in checks and f"in order [{STREAM}]" in checks
    assert any(v.check.startswith("recovery: data after ws-down") for v in result.verdicts)
    assert result.run is not None and set(result.run.venues) == {"toy"}
    gaps = [e for e in result.run.events if e.type == "gap"]
    assert gaps and all(e.venue == "toy" and e.instrument == "toy:BTCUSDT" for e in gaps)

    run_dir, report = write_run(
        [result], out=tmp_path, seed=3, mode=mode, sla_file="harness/sla.toml", ceiling=None, baseline=None,
        junit=junit_xml([result]),
    )  # fmt: skip
    (section,) = report["scenarios"]
    assert section["venues"] == [{"name": "toy", "venue": "toy", "recording": "spot-btcusdt", "symbols": 1}]
    assert section["ok"] is True
    assert orjson.loads((run_dir / "report.json").read_bytes())["scenarios"][0]["venues"][0]["venue"] == "toy"
    assert "toy" in (run_dir / "report.html").read_text()


@pytest.mark.slow
async def test_load_runs_on_the_toy_venue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.load.driver import LoadOptions, run_load

    monkeypatch.setenv("TICKSTORM_PLUGINS", "toy_venue")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PLUGINS), os.environ.get("PYTHONPATH", "")]))
    report = await run_load(
        LoadOptions(
            run_dir=tmp_path / "load", venue="toy", symbols="btcusdt", channels="trade", plan="10x5",
            step_s=6.0, warmup_s=2.0, run_time_s=60.0,
        )
    )  # fmt: skip
    (step,) = report["steps"]
    assert step["subscribers_connected"] == 5 and step["subscriber_drops"] == 0
    join = report["join"]
    assert join["ok"], join["failed"]
    assert join["subscribers"] == 5 and join["events_received"] >= 5 * 100
