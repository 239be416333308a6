"""Fixtures of the observability tests: the SLA-derived rule settings and the Prometheus binaries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.sla import load_sla
from observability.rules import RuleSettings
from observability.server import prometheus_binary, promtool_binary

REPO = Path(__file__).resolve().parents[2]
METRICS_ROW = re.compile(r"^\| `([a-z_:][a-z0-9_:]*)` \| (counter|gauge|histogram) \|([^|]*)\|")
MISSING = (
    "{tool} is not installed (Debian package 'prometheus': apt-get install -y prometheus "
    "prometheus-alertmanager); CI installs it"
)


@pytest.fixture(scope="session")
def settings() -> RuleSettings:
    """The production rule settings (harness/sla.toml)."""
    return RuleSettings.from_sla(load_sla())


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool's path; the test is skipped when it is not installed."""
    binary = promtool_binary()
    if binary is None:
        pytest.skip(MISSING.format(tool="promtool"))
    return binary


@pytest.fixture(scope="session")
def prometheus() -> str:
    """The prometheus server binary's path; the test is skipped when it is not installed."""
    binary = prometheus_binary()
    if binary is None:
        pytest.skip(MISSING.format(tool="prometheus"))
    return binary


@pytest.fixture(scope="session")
def documented_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """name → (type, label names) from the table in docs/metrics.md."""
    out = {}
    for line in (REPO / "docs/metrics.md").read_text(encoding="utf-8").splitlines():
        match = METRICS_ROW.match(line)
        if match:
            out[match.group(1)] = (match.group(2), frozenset(re.findall(r"`([a-z_]+)`", match.group(3))))
    return out
