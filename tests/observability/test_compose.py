"""observability/docker-compose.yml mounts the generated files the tests check, and binds to loopback."""

from __future__ import annotations

import re

import yaml

from observability import PACKAGE_DIR
from observability import names as n

COMPOSE = PACKAGE_DIR / "docker-compose.yml"


def test_compose_mounts_the_checked_files_and_listens_on_loopback_only() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert set(services) == {"prometheus", "alertmanager", "grafana", "toxiproxy"}
    mounts = {}
    for name, service in services.items():
        assert service["network_mode"] == "host", name
        for volume in service.get("volumes", []):
            source, target, *_ = volume.split(":")
            assert (PACKAGE_DIR / source).exists(), f"{name} mounts missing {source}"
            mounts[target] = source
        text = yaml.safe_dump(service)
        for address in re.findall(r"(?:listen-address=|-host=|HTTP_ADDR: )([0-9.]+)", text):
            assert address == "127.0.0.1", f"{name} listens on {address}"
    assert mounts["/etc/prometheus/prometheus.yml"] == "./" + n.PROMETHEUS_CONFIG_FILE
    assert mounts["/etc/prometheus/alerts.yml"] == "./" + n.ALERTS_FILE
    assert mounts[n.GRAFANA_DASHBOARDS_DIR] == "./grafana/dashboards"
    assert mounts["/etc/grafana/provisioning/datasources"] == "./grafana/provisioning/datasources"
    config = yaml.safe_load((PACKAGE_DIR / n.PROMETHEUS_CONFIG_FILE).read_text())
    assert config["rule_files"] == ["alerts.yml"]  # beside prometheus.yml in the container
    assert config["scrape_configs"][0]["static_configs"][0]["targets"] == [n.DEFAULT_FEED_TARGET]
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{n.GRAFANA_DASHBOARDS_DIR}/{n.DASHBOARD_FILE.rsplit('/', 1)[1]}"
