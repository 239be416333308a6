"""promtool checks the generated rules and runs their unit tests; the unit tests catch wrong thresholds."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from observability import PACKAGE_DIR
from observability import names as n
from observability.generate import rule_files
from observability.rules import RuleSettings, alert_rules
from observability.server import find_binary
from observability.server import promtool as run_promtool

RULES = PACKAGE_DIR / n.ALERTS_FILE
TESTS = PACKAGE_DIR / n.RULE_TESTS_FILE


def test_promtool_accepts_the_rules(promtool: str, settings: RuleSettings) -> None:
    done = run_promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules(settings))} rules found" in done.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    done = run_promtool("test", "rules", str(TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_firing_and_a_silent_check(settings: RuleSettings) -> None:
    document = yaml.safe_load(TESTS.read_text())
    fires: set[str] = set()
    silent: set[str] = set()
    for case in document["tests"]:
        for check in case["alert_rule_test"]:
            (fires if check["exp_alerts"] else silent).add(check["alertname"])
    names = {a.name for a in alert_rules(settings)}
    assert fires == names
    assert silent == names


@pytest.mark.parametrize(
    "change",
    [
        {"latency_p99_s": 0.2},  # a threshold above what the broken target shows: never fires
        {"reconnects": 1000.0},
        {"buffer_fill": 0.3},  # below the healthy target's fill: it fires too
        {"stale_for": "5m"},  # fires later than the test expects
        {"dlq_growth": 100.0},
    ],
    ids=lambda change: next(iter(change)),
)
def test_unit_tests_fail_for_rules_with_other_thresholds(
    tmp_path: Path, settings: RuleSettings, promtool: str, change: dict[str, Any]
) -> None:
    """The committed tests fail against rules generated with another threshold (they are not vacuous)."""
    wrong = dataclasses.replace(settings, **change)
    files = rule_files(wrong, "test")
    (tmp_path / "tests").mkdir()
    (tmp_path / "alerts.yml").write_text(files[n.ALERTS_FILE])
    shutil.copy(TESTS, tmp_path / "tests" / "alerts_test.yml")
    done = run_promtool("test", "rules", str(tmp_path / "tests" / "alerts_test.yml"))
    assert done.returncode != 0, done.stdout
    assert "FAILED" in done.stdout + done.stderr


def test_alertmanager_config_is_valid() -> None:
    amtool = find_binary("amtool", "TICKSTORM_AMTOOL")
    if amtool is None:
        pytest.skip("amtool is not installed (Debian package 'prometheus-alertmanager'); CI installs it")
    config = PACKAGE_DIR / "alertmanager" / "alertmanager.yml"
    done = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
