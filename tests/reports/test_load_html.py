"""The load report's HTML: the knee chart, the delivery chart, tables, escaping, and `tickstorm report`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from reports.load_html import render_load_html
from tickstorm.cli import main


def _step(index: int, speed: float, users: int, p99: float, ok: bool, drops: int = 0) -> dict[str, Any]:
    return {
        "index": index,
        "speed": speed,
        "subscribers": users,
        "subscribers_connected": users,
        "feed_p50_ms": p99 / 4,
        "feed_p99_ms": p99,
        "feed_p999_ms": p99 * 1.2,
        "feed_ingest_p99_ms": p99 / 2,
        "sla_p99_ms": 50.0,
        "within_sla_fraction": 1.0 if ok else 0.97,
        "delivered_msgs_per_s": users * 28.0,
        "frames_per_s": users * 17.0,
        "subscriber_drops": drops,
        "cpu_percent": {"feed": 12.0, "locust": 40.0},
        "ok": ok,
        "reasons": [] if ok else [f"p99 {p99} ms > SLA 50 ms"],
    }


def report(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "tickstorm-load-report",
        "run_id": "load-1",
        "created": "2026-11-26T05:00:00Z",
        "duration_s": 80.0,
        "machine": {"cpu_model": "AMD EPYC", "cores": 2},
        "config": {"plan": "1x200,1x500,1x800", "channels": "book,trades", "processes": 2},
        "latency_definition": "intended send -> socket",
        "steps": [
            _step(0, 1, 200, 14.0, True),
            _step(1, 1, 500, 29.0, True),
            _step(2, 1, 800, 61.0, False, 12),
        ],
        "knee": {
            "found": True,
            "last_good": {"index": 1, "speed": 1.0, "users": 500},
            "first_bad": {"index": 2, "speed": 1.0, "users": 800},
            "reasons": ["p99 61.0 ms > SLA 50 ms"],
        },
        "locust": {
            "note": "subscribers' view",
            "entries": [{"type": "WS", "name": "recv book", "requests": 9}],
        },
        "join": {"ok": True, "subscribers": 800, "events_received": 1000, "gap_ranges": 0, "failed": []},
    }
    base.update(overrides)
    return base


def test_knee_chart_has_a_point_per_step_the_sla_line_and_the_knee_marker() -> None:
    html = render_load_html(report())
    knee = re.search(r'<svg[^>]*data-chart="knee".*?</svg>', html, re.S)
    assert knee is not None
    for label in ("x1 · 200", "x1 · 500", "x1 · 800"):
        assert label in knee.group(0)
    assert "feed p99" in knee.group(0) and "SLA p99 bound" in knee.group(0)
    assert "knee: first step beyond SLA" in knee.group(0)
    assert "<title>tickstorm load — FAIL</title>" in html  # one step beyond SLA
    assert "last step within SLA: x1 with 500 subscribers" in html


def test_delivery_chart_marks_the_steps_with_drops() -> None:
    html = render_load_html(report())
    delivery = re.search(r'<svg[^>]*data-chart="delivery".*?</svg>', html, re.S)
    assert delivery is not None
    assert delivery.group(0).count('class="marker"') == 1
    assert "x1 · 800: 12 events dropped" in delivery.group(0)


def test_a_run_within_sla_passes_and_has_no_knee_marker() -> None:
    steps = [_step(0, 1, 200, 14.0, True)]
    html = render_load_html(
        report(steps=steps, knee={"found": False, "note": "every step stayed within SLA"})
    )
    assert "<title>tickstorm load — PASS</title>" in html
    assert "knee: first step beyond SLA" not in html and "every step stayed within SLA" in html


def test_hostile_strings_are_escaped_and_missing_parts_render() -> None:
    html = render_load_html(report(run_id="<script>x</script>", steps=[], knee={}, join=None, locust={}))
    assert "<script>x" not in html and "&lt;script&gt;" in html
    assert "no step was measured" in html and "no history join" in html


def test_tickstorm_report_renders_a_load_run(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "load-report.json").write_text(json.dumps(report()))
    (tmp_path / "load-report.html").write_text("the run's own page")
    assert main(["report", str(tmp_path)]) == 1  # a step beyond SLA
    out = capsys.readouterr().out
    assert "x1 800 subscribers: p99 61.0 ms" in out
    assert (tmp_path / "load-report.html").read_text() == "the run's own page"  # left as it was
    assert f"HTML report: {tmp_path / 'load-report.html'} (the run's own, unchanged" in out
    assert main(["report", str(tmp_path), "--html", str(tmp_path / "again.html")]) == 1
    assert 'data-chart="knee"' in (tmp_path / "again.html").read_text()
    (tmp_path / "load-report.json").write_text(json.dumps({"kind": "something else"}))
    assert main(["report", str(tmp_path)]) == 2
