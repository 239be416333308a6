"""Grafana provisioning files: the Prometheus datasource and the folder the dashboard is loaded from."""

from __future__ import annotations

from typing import Any

from observability import names as n


def datasource_document(prometheus_url: str = n.PROMETHEUS_URL) -> dict[str, Any]:
    """One default Prometheus datasource with the uid the dashboard's variable defaults to."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus (tickstorm)",
                "uid": n.DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": prometheus_url,
                "isDefault": True,
                "editable": False,
                "jsonData": {"timeInterval": "15s", "httpMethod": "POST"},
            }
        ],
    }


def dashboard_provider_document(path: str = n.GRAFANA_DASHBOARDS_DIR) -> dict[str, Any]:
    """A file provider loading every dashboard JSON under ``path`` into a ``tickstorm`` folder."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "tickstorm",
                "folder": "tickstorm",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": path, "foldersFromFilesStructure": False},
            }
        ],
    }
