"""The names the rules, the configuration and the dashboard share: job, metrics, files, datasource."""

from __future__ import annotations

from feed.metrics import PREFIX

JOB = "tickstorm-feed"
"""Prometheus job name of the feed's scrape target (``up{job=...}``)."""
DEFAULT_FEED_TARGET = "127.0.0.1:9464"
"""Where the committed prometheus.yml scrapes a feed (``tickstorm feed --metrics-port 9464``)."""
ALERTMANAGER_TARGET = "127.0.0.1:9093"

RULE_GROUP = "tickstorm-feed"
ALERTS_FILE = "prometheus/alerts.yml"
PROMETHEUS_CONFIG_FILE = "prometheus/prometheus.yml"
RULE_TESTS_FILE = "prometheus/tests/alerts_test.yml"
DASHBOARD_FILE = "grafana/dashboards/tickstorm-feed.json"
DATASOURCE_FILE = "grafana/provisioning/datasources/prometheus.yml"
DASHBOARD_PROVIDER_FILE = "grafana/provisioning/dashboards/tickstorm.yml"

DATASOURCE_UID = "tickstorm-prometheus"
DASHBOARD_UID = "tickstorm-feed"
PROMETHEUS_URL = "http://127.0.0.1:9090"
GRAFANA_DASHBOARDS_DIR = "/var/lib/grafana/dashboards/tickstorm"
"""Where the compose file mounts ``grafana/dashboards`` inside the Grafana container."""

RUNBOOK_URL = "docs/runbook.md"
"""Base of every alert's ``runbook_url`` (``--runbook-url`` of the generator sets a published location)."""

# Metric names (feed/metrics.py defines them; tests check these against a live exposition).
UP = "up"
LATENCY = PREFIX + "exchange_to_receive_seconds"
DELIVERY = PREFIX + "receive_to_delivery_seconds"
MESSAGES = PREFIX + "messages_total"
BYTES = PREFIX + "bytes_total"
DECODE_ERRORS = PREFIX + "decode_errors_total"
RECONNECTS = PREFIX + "reconnects_total"
CONNECTION_ATTEMPTS = PREFIX + "connection_attempts_total"
CONNECTIONS_OPEN = PREFIX + "connections_open"
GAPS = PREFIX + "gaps_total"
LOST_IDS = PREFIX + "lost_ids_total"
RESYNCS = PREFIX + "resyncs_total"
BACKFILLED = PREFIX + "backfilled_events_total"
DUPLICATES = PREFIX + "duplicates_dropped_total"
BUFFER_DROPPED = PREFIX + "buffer_dropped_events_total"
DLQ = PREFIX + "dlq_frames_total"
REST_WEIGHT = PREFIX + "rest_weight_used_total"
STALE_STREAMS = PREFIX + "stale_streams"
STREAM_STALE = PREFIX + "stream_stale"
STREAM_LAST_MESSAGE = PREFIX + "stream_last_message_timestamp_seconds"
STREAM_STALE_THRESHOLD = PREFIX + "stream_stale_threshold_seconds"
BUFFER_DEPTH = PREFIX + "buffer_depth"
BUFFER_CAPACITY = PREFIX + "buffer_capacity"
BUILD_INFO = PREFIX + "build_info"
VENUE_INFO = PREFIX + "venue_info"
RSS = "process_resident_memory_bytes"
CPU = "process_cpu_seconds_total"

VENUE_LABELLED = frozenset(
    {
        VENUE_INFO, LATENCY, DELIVERY, MESSAGES, BYTES, DECODE_ERRORS, RECONNECTS, CONNECTION_ATTEMPTS,
        CONNECTIONS_OPEN, GAPS, LOST_IDS, RESYNCS, BACKFILLED, DUPLICATES, DLQ, REST_WEIGHT, STALE_STREAMS,
        STREAM_STALE, STREAM_LAST_MESSAGE, STREAM_STALE_THRESHOLD,
    }
)  # fmt: skip
"""Families with a ``venue`` label (the dashboard's venue variable filters them; tested against the feed)."""
