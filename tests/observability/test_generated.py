"""The committed observability files are exactly what the generator makes from the SLA config."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from harness.sla import load_sla
from observability import PACKAGE_DIR
from observability import names as n
from observability.dashboard import queries
from observability.generate import generated_files, main
from observability.rules import RuleConfigError, RuleSettings, alert_rules

REPO = Path(__file__).resolve().parents[2]


def test_committed_files_match_a_fresh_generation(tmp_path: Path, settings: RuleSettings) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    files = generated_files(settings)
    assert len(files) == 6
    for rel in files:
        fresh = (tmp_path / rel).read_text(encoding="utf-8")
        committed = (PACKAGE_DIR / rel).read_text(encoding="utf-8")
        assert committed == fresh, f"{rel} is out of date: run python -m observability.generate"


def test_check_mode_reports_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / n.ALERTS_FILE).write_text("groups: []\n", encoding="utf-8")
    assert main(["--out", str(tmp_path), "--check"]) == 1
    assert n.ALERTS_FILE in capsys.readouterr().err


def test_thresholds_come_from_the_sla_file(tmp_path: Path) -> None:
    text = (REPO / "harness/sla.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^p99_ms = 50\.0$", "p99_ms = 100.0", text, count=1)
    text = re.sub(r"(?m)^reconnects_per_5m = \d+", "reconnects_per_5m = 7", text)
    text = re.sub(r'(?m)^stale_for = ".*"', 'stale_for = "2m"', text)
    sla = tmp_path / "sla.toml"
    sla.write_text(text, encoding="utf-8")
    assert main(["--sla", str(sla), "--out", str(tmp_path / "out")]) == 0
    rules = {
        r["alert"]: r
        for r in yaml.safe_load((tmp_path / "out" / n.ALERTS_FILE).read_text())["groups"][0]["rules"]
    }
    assert rules["TickstormFeedLatencyHigh"]["expr"].endswith("> 0.1")
    assert rules["TickstormFeedReconnectsFrequent"]["expr"].endswith(">= 7")
    assert rules["TickstormFeedStreamStale"]["for"] == "2m"
    committed = yaml.safe_load((PACKAGE_DIR / n.ALERTS_FILE).read_text())["groups"][0]["rules"]
    assert {r["alert"]: r["expr"] for r in committed}["TickstormFeedLatencyHigh"].endswith("> 0.05")


def test_sla_without_the_latency_level_is_refused(tmp_path: Path) -> None:
    text = (REPO / "harness/sla.toml").read_text(encoding="utf-8").replace('"recorded-speed"', '"other"')
    sla = tmp_path / "sla.toml"
    sla.write_text(text, encoding="utf-8")
    with pytest.raises(RuleConfigError, match="recorded-speed"):
        RuleSettings.from_sla(load_sla(sla))
    assert main(["--sla", str(sla), "--out", str(tmp_path)]) == 2
    with pytest.raises(RuleConfigError, match="duration"):
        RuleSettings.from_sla(load_sla(), stale_for="30 seconds")


def test_every_alert_is_complete_and_has_a_runbook_section(settings: RuleSettings) -> None:
    runbook = (REPO / "docs/runbook.md").read_text(encoding="utf-8")
    headings = {
        re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"(?m)^##+ (.+)$", runbook)
    }
    rules = yaml.safe_load((PACKAGE_DIR / n.ALERTS_FILE).read_text())["groups"][0]["rules"]
    assert [r["alert"] for r in rules] == [a.name for a in alert_rules(settings)]
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], rule["alert"]
        base, _, anchor = notes["runbook_url"].partition("#")
        assert base == n.RUNBOOK_URL
        assert anchor in headings, f"docs/runbook.md has no section #{anchor}"


def test_runbook_url_base_can_be_set(tmp_path: Path) -> None:
    url = "https://git.example.org/tickstorm/blob/main/docs/runbook.md"
    assert main(["--out", str(tmp_path), "--runbook-url", url]) == 0
    assert f"runbook_url: {url}#tickstormfeeddown" in (tmp_path / n.ALERTS_FILE).read_text()


def test_dashboard_and_provisioning_agree(settings: RuleSettings) -> None:
    dashboard = json.loads((PACKAGE_DIR / n.DASHBOARD_FILE).read_text())
    datasources = yaml.safe_load((PACKAGE_DIR / n.DATASOURCE_FILE).read_text())["datasources"]
    providers = yaml.safe_load((PACKAGE_DIR / n.DASHBOARD_PROVIDER_FILE).read_text())["providers"]
    assert dashboard["uid"] == n.DASHBOARD_UID
    assert [d["uid"] for d in datasources] == [n.DATASOURCE_UID] and datasources[0]["type"] == "prometheus"
    assert providers[0]["options"]["path"] == n.GRAFANA_DASHBOARDS_DIR
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    titles = [p["title"] for p in dashboard["panels"] if p["type"] != "row"]
    for wanted in ("Messages received", "Latency", "stream's last message", "Reconnects", "Buffer depth",
                   "Dead letters", "Resident memory", "Feed alerts"):  # fmt: skip
        assert any(wanted in t for t in titles), wanted
    assert variables["venue"]["query"].startswith(f"label_values({n.VENUE_INFO}")
    filtered = unfiltered = 0
    for title, expr in queries(dashboard):
        for family in n.VENUE_LABELLED:
            pattern = re.escape(family) + r"(?:_bucket|_sum|_count)?(?![a-z_])(\{[^}]*\})?"
            for selector in re.findall(pattern, expr):
                assert 'venue=~"$venue"' in selector, f"{title}: {family} not filtered by the venue variable"
                filtered += 1
        unfiltered += expr.count(n.RSS)
    assert filtered >= 20 and unfiltered >= 1  # venue-less families (process memory) stay unfiltered
    latency = next(p for p in dashboard["panels"] if p["title"].startswith("Latency: venue"))
    steps = latency["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == settings.latency_p99_s  # the SLA's p99 drawn on the panel
