"""The load baseline's pure parts: campaign selection, per-run entries, knees and the acceptance verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from feed.downstream.metrics import SEND_BUCKETS
from harness.load.baseline import CAMPAIGN, campaign_runs, run_entry, summarize, write_baseline
from harness.sla import load_sla


def _step(speed: float, users: int, p99: float, ok: bool, within: float = 1.0) -> dict[str, Any]:
    return {
        "speed": speed,
        "subscribers": users,
        "subscribers_connected": users,
        "feed_p99_ms": p99,
        "sla_p99_ms": 50.0,
        "within_sla_fraction": within,
        "ok": ok,
        "reasons": [] if ok else [f"p99 {p99} ms > SLA 50 ms"],
        "cpu_percent": {"feed": 10.0},
    }


def _report(steps: list[dict[str, Any]], join: dict[str, Any] | None = None) -> dict[str, Any]:
    done = {"found": False, "last_good": None, "note": "every step stayed within SLA"}
    report: dict[str, Any] = {"created": "2026-11-26T05:00:00Z", "steps": steps, "knee": done}
    if join is not None:
        report["join"] = join
    return report


def test_every_sla_latency_bound_is_a_send_bucket_edge() -> None:
    # the load shape's "within SLA" share is exact only at a bucket edge
    edges = {round(b * 1000, 6) for b in SEND_BUCKETS}
    for level in load_sla().latency:
        for bound in (level.p50_ms, level.p99_ms, level.p999_ms):
            if bound is not None:
                assert bound in edges, f"{bound} ms is not an edge of the send histogram"


def test_campaign_selection_by_name_and_unknown_names() -> None:
    assert [r.name for r in campaign_runs(None)] == [r.name for r in CAMPAIGN]
    assert [r.name for r in campaign_runs("speed_ramp_50")] == ["speed_ramp_50"]
    with pytest.raises(ValueError, match="unknown campaign run"):
        campaign_runs("acceptance_x1_500,nope")


def test_acceptance_needs_every_step_within_sla_and_a_clean_join() -> None:
    run = campaign_runs("acceptance_x1_500")[0]
    good = run_entry(run, _report([_step(1, 500, 29.1, True)], {"ok": True, "subscribers": 500}))
    lost = run_entry(run, _report([_step(1, 500, 29.1, True)], {"ok": False, "subscribers": 500}))
    slow = run_entry(run, _report([_step(1, 500, 59.0, False, 0.98)], {"ok": True, "subscribers": 500}))
    assert summarize({"acceptance_x1_500": good})["acceptance_x1_500"]["ok"] is True
    assert summarize({"acceptance_x1_500": lost})["acceptance_x1_500"]["ok"] is False
    verdict = summarize({"acceptance_x1_500": slow})["acceptance_x1_500"]
    assert verdict["ok"] is False and "98.00 % within" in verdict["steps"][0]


def test_knee_text_names_last_good_and_first_beyond() -> None:
    run = campaign_runs("subscriber_ramp_x1")[0]
    entry = run_entry(
        run, _report([_step(1, 200, 9.0, True), _step(1, 500, 29.0, True), _step(1, 650, 61.0, False)])
    )
    text = summarize({"subscriber_ramp_x1": entry})["knee_subscribers_at_x1"]
    assert "last good x1 with 500 subscribers: p99 29.0 ms" in text
    assert "first beyond x1 with 650 subscribers: p99 61.0 ms" in text
    flat = run_entry(run, _report([_step(1, 200, 9.0, True)]))
    assert "no knee inside the plan" in summarize({"subscriber_ramp_x1": flat})["knee_subscribers_at_x1"]


def test_write_baseline_replaces_runs_of_the_same_name_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "load-knee.json"
    ramp, speed = campaign_runs("subscriber_ramp_x1,speed_ramp_50")
    write_baseline(
        path, {"speed_ramp_50": run_entry(speed, _report([_step(2, 50, 20.0, True)]))}, {"cores": 2}
    )
    write_baseline(path, {"subscriber_ramp_x1": run_entry(ramp, _report([_step(1, 200, 9.0, True)]))}, {})
    data = json.loads(path.read_text())
    assert set(data["runs"]) == {"speed_ramp_50", "subscriber_ramp_x1"}
    assert set(data["summary"]) == {"knee_subscribers_at_x1", "knee_speed_with_50_subscribers"}


def test_a_run_stopped_by_locust_says_so_instead_of_claiming_no_knee(tmp_path: Path) -> None:
    from harness.load.driver import LoadOptions
    from harness.load.report import build_report

    step = {
        "kind": "step",
        "step": {"index": 0, "speed": 50.0, "users": 50},
        "window_s": 12.0,
        "p99_ms": 95.0,
        "within_sla": 1.0,
        "ingest_p99_ms": 80.0,
        "feed_events_per_s": 7800.0,
        "delivered_per_s": 103000.0,
        "drops": 0,
        "disconnects": 0,
        "subscribers": 50,
        "extra": {"t_end": 10.0},
        "sla_p99_ms": 1000.0,
        "ok": True,
        "reasons": [],
    }
    aborted = {
        "kind": "aborted",
        "step": {"index": 1, "speed": 100.0, "users": 50},
        "reason": "Locust stopped the test: its workers stopped answering heartbeats",
    }
    (tmp_path / "steps.jsonl").write_text(json.dumps(step) + "\n" + json.dumps(aborted) + "\n")
    report = build_report(LoadOptions(run_dir=tmp_path, history=False), started=0.0, locust_rc=0, cpu=[])
    assert report["knee"]["found"] is False
    assert "stopped during step x100 with 50 subscribers" in report["knee"]["note"]
    text = summarize({"speed_ramp_50": run_entry(campaign_runs("speed_ramp_50")[0], report)})
    assert "workers stopped answering heartbeats" in text["knee_speed_with_50_subscribers"]
    assert "no knee inside the plan" not in text["knee_speed_with_50_subscribers"]
