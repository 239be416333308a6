"""Prometheus server configuration for scraping feeds (committed for docker compose, built by observe)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from observability import names as n
from observability.promql import format_duration, parse_duration

DEFAULT_SCRAPE_TIMEOUT_S = 10.0


def prometheus_config(
    targets: Sequence[str],
    *,
    rule_files: Sequence[str] = ("alerts.yml",),
    scrape_interval: str = "15s",
    evaluation_interval: str = "15s",
    alertmanagers: Sequence[str] = (),
) -> dict[str, Any]:
    """One ``tickstorm-feed`` job scraping ``targets`` (``host:port``) with the rule files loaded.

    The scrape timeout is Prometheus's 10 s default, or the interval when that is shorter (Prometheus
    refuses a timeout longer than the interval).
    """
    timeout = format_duration(min(parse_duration(scrape_interval), DEFAULT_SCRAPE_TIMEOUT_S))
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": timeout,
            "evaluation_interval": evaluation_interval,
        },
        "rule_files": list(rule_files),
        "scrape_configs": [
            {
                "job_name": n.JOB,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": list(targets)}],
            }
        ],
    }
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    return config
