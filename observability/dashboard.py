"""The feed's Grafana dashboard, built with the Grafana Foundation SDK.

``dashboard_json(settings)`` returns the dashboard as the JSON document Grafana provisions. Every query
reads the metrics in docs/metrics.md; ``queries(document)`` lists them (tests run each one through a real
Prometheus and check the metric names it reads).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
    VariableSort,
)

from observability import names as n
from observability.rules import RuleSettings

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
SELECTOR = '{job="$job", instance=~"$instance"}'
"""Every panel's series selector (the dashboard's job and instance variables)."""
VENUE_MATCHER = 'venue=~"$venue"'
"""Added to the selector of every family with a ``venue`` label (the dashboard's venue variable)."""
RATE = "$__rate_interval"


def _sel(metric: str, extra: str = "") -> str:
    """``metric{job=..., instance=~..., [venue=~...,] extra}``."""
    inner = SELECTOR[1:-1]
    if metric.removesuffix("_bucket") in n.VENUE_LABELLED:
        inner += ", " + VENUE_MATCHER
    if extra:
        inner += ", " + extra
    return f"{metric}{{{inner}}}"


def _query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


def _thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


def _series(title: str, description: str, unit: str, *queries: tuple[str, str]) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(12)
        .line_width(1)
        .fill_opacity(10)
        .legend(common_b.VizLegendOptions().display_mode(common.LegendDisplayMode.LIST).placement(
            common.LegendPlacement.BOTTOM
        ).show_legend(True))
    )  # fmt: skip
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + index)))
    return panel


def _stat(
    title: str, description: str, unit: str, expr: str, thresholds: dash.ThresholdsConfig
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(4)
        .span(4)
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .thresholds(thresholds)
        .with_target(_query(expr, "{{venue}} {{instance}}"))
    )


def _quantiles(metric: str, what: str) -> list[tuple[str, str]]:
    return [
        (
            f"histogram_quantile({q}, sum by (instance, venue, le) "
            f"(rate({_sel(metric + '_bucket')}[{RATE}])))",
            f"p{label} {what} {{{{venue}}}} {{{{instance}}}}",
        )
        for q, label in ((0.5, "50"), (0.99, "99"), (0.999, "99.9"))
    ]


def _alerts(state: str) -> str:
    """The feed's alerts in ``state`` (alerts without an instance label, such as absent(), included)."""
    return f'ALERTS{{alertname=~"TickstormFeed.*", alertstate="{state}", instance=~"($instance)?"}}'


def build_dashboard(settings: RuleSettings) -> dash.Dashboard:
    """The dashboard builder (feed throughput, latency, staleness, recovery, buffers, DLQ, memory, alerts)."""
    p99 = settings.latency_p99_s
    fill = settings.buffer_fill
    builder = (
        dash.Dashboard("tickstorm feed")
        .uid(n.DASHBOARD_UID)
        .description("The tickstorm reference feed: throughput, latency, staleness, recovery, buffers, DLQ.")
        .tags(["tickstorm", "feed", "market-data"])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .refresh("10s")
        .time("now-1h", "now")
        .timezone("browser")
        .with_variable(dash.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            dash.QueryVariable("job")
            .label("Job")
            .datasource(DATASOURCE)
            .query(f"label_values({n.BUILD_INFO}, job)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
        )
        .with_variable(
            dash.QueryVariable("instance")
            .label("Feed")
            .datasource(DATASOURCE)
            .query(f'label_values({n.BUILD_INFO}{{job="$job"}}, instance)')
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".+")
        )
        .with_variable(
            dash.QueryVariable("venue")
            .label("Venue")
            .datasource(DATASOURCE)
            .query(f'label_values({n.VENUE_INFO}{{job="$job", instance=~"$instance"}}, venue)')
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".+")
        )
    )
    builder = (
        builder.with_row(dash.Row("Overview"))
        .with_panel(
            _stat(
                "Feeds up",
                "Targets Prometheus scrapes successfully (1) or not (0).",
                "none",
                f"up{SELECTOR}",
                _thresholds((None, "red"), (1, "green")),
            )
        )
        .with_panel(
            _stat(
                "Messages / s",
                "Venue messages received per second, all streams.",
                "reqps",
                f"sum by (instance, venue) (rate({_sel(n.MESSAGES)}[{RATE}]))",
                _thresholds((None, "blue")),
            )
        )
        .with_panel(
            _stat(
                "Stale streams",
                "Streams silent for longer than their staleness threshold.",
                "none",
                f"sum by (instance, venue) ({_sel(n.STREAM_STALE)})",
                _thresholds((None, "green"), (1, "red")),
            )
        )
        .with_panel(
            _stat(
                "p99 venue → feed",
                "p99 of venue event time to feed receive time; red above the SLA's p99.",
                "s",
                _quantiles(n.LATENCY, "")[1][0],
                _thresholds((None, "green"), (p99, "red")),
            )
        )
        .with_panel(
            _stat(
                "Open connections",
                "WebSocket connections currently open.",
                "none",
                f"sum by (instance, venue) ({_sel(n.CONNECTIONS_OPEN)})",
                _thresholds((None, "red"), (1, "green")),
            )
        )
        .with_panel(
            _stat(
                "Resident memory",
                "The feed process's resident set size.",
                "bytes",
                _sel(n.RSS),
                _thresholds((None, "blue")),
            )
        )
    )
    builder = (
        builder.with_row(dash.Row("Throughput and latency"))
        .with_panel(
            _series(
                "Messages received / s by stream kind",
                "rate of tickstorm_feed_messages_total.",
                "reqps",
                (
                    f"sum by (instance, venue, stream_kind) (rate({_sel(n.MESSAGES)}[{RATE}]))",
                    "{{venue}} {{stream_kind}} {{instance}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Bytes received / s",
                "rate of tickstorm_feed_bytes_total.",
                "Bps",
                (f"sum by (instance, venue) (rate({_sel(n.BYTES)}[{RATE}]))", "{{venue}} {{instance}}"),
            )
        )
        .with_panel(
            _series(
                "Latency: venue event → feed receive",
                f"Percentiles from the histogram; the SLA p99 ({p99 * 1000:g} ms) is the alert threshold.",
                "s",
                *_quantiles(n.LATENCY, "venue→feed"),
            )
            .thresholds(_thresholds((None, "green"), (p99, "red")))
            .thresholds_style(
                common_b.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
            )
        )
        .with_panel(
            _series(
                "Latency: feed receive → delivery",
                "Time spent inside the feed (decode, sequence, book) before subscribers get an event.",
                "s",
                *_quantiles(n.DELIVERY, "receive→delivery"),
            )
        )
    )
    builder = (
        builder.with_row(dash.Row("Streams"))
        .with_panel(
            _series(
                "Seconds since each stream's last message",
                "Time since the last message; 'threshold' series: its own (adaptive) staleness threshold.",
                "s",
                (f"time() - {_sel(n.STREAM_LAST_MESSAGE)}", "{{venue}} {{stream}} {{instance}}"),
                (f"{_sel(n.STREAM_STALE_THRESHOLD)}", "threshold {{venue}} {{stream}} {{instance}}"),
            )
        )
        .with_panel(
            statetimeline.Panel()
            .title("Stale streams")
            .description("1 (red) while a stream is stale.")
            .datasource(DATASOURCE)
            .height(8)
            .span(12)
            .thresholds(_thresholds((None, "green"), (1, "red")))
            .with_target(_query(_sel(n.STREAM_STALE), "{{venue}} {{stream}} {{instance}}"))
        )
    )
    builder = (
        builder.with_row(dash.Row("Recovery"))
        .with_panel(
            _series(
                "Reconnects, gaps and resyncs (per 5 min)",
                "Connections lost and re-established, gaps reported, order books resynchronised.",
                "none",
                (
                    f"sum by (instance, venue) (increase({_sel(n.RECONNECTS)}[5m]))",
                    "reconnects {{venue}} {{instance}}",
                ),
                (
                    f"sum by (instance, venue, stream_kind) (increase({_sel(n.GAPS)}[5m]))",
                    "gaps {{venue}} {{stream_kind}} {{instance}}",
                ),
                (
                    f"sum by (instance, venue) (increase({_sel(n.RESYNCS)}[5m]))",
                    "resyncs {{venue}} {{instance}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Ids lost and backfilled, duplicates, connection attempts (per 5 min)",
                "Lost: reported as never delivered. Backfilled: recovered over REST.",
                "none",
                (
                    f"sum by (instance, venue, stream_kind) (increase({_sel(n.LOST_IDS)}[5m]))",
                    "lost {{venue}} {{stream_kind}} {{instance}}",
                ),
                (
                    f"sum by (instance, venue) (increase({_sel(n.BACKFILLED)}[5m]))",
                    "backfilled {{venue}} {{instance}}",
                ),
                (
                    f"sum by (instance, venue) (increase({_sel(n.DUPLICATES)}[5m]))",
                    "duplicates {{venue}} {{instance}}",
                ),
                (
                    f"sum by (instance, venue) (increase({_sel(n.CONNECTION_ATTEMPTS)}[5m]))",
                    "connection attempts {{venue}} {{instance}}",
                ),
            )
        )
    )
    builder = (
        builder.with_row(dash.Row("Buffers and dead letters"))
        .with_panel(
            _series(
                "Buffer depth (fullest buffer of each kind)",
                "Events held; 'capacity' series: the capacity of that buffer.",
                "none",
                (_sel(n.BUFFER_DEPTH), "{{buffer}} {{instance}}"),
                (_sel(n.BUFFER_CAPACITY), "capacity {{buffer}} {{instance}}"),
            )
        )
        .with_panel(
            _series(
                "Buffer fill",
                f"Depth / capacity; the near-full alert fires at {fill:.0%}.",
                "percentunit",
                (f"{_sel(n.BUFFER_DEPTH)} / {_sel(n.BUFFER_CAPACITY)}", "{{buffer}} {{instance}}"),
            )
            .max(1)
            .thresholds(_thresholds((None, "green"), (fill, "red")))
            .thresholds_style(
                common_b.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
            )
        )
        .with_panel(
            _series(
                "Dead letters and decode errors (per 5 min)",
                "Frames rejected into the DLQ, by reason; events dropped by full buffers.",
                "none",
                (
                    f"sum by (instance, venue) (increase({_sel(n.DLQ)}[5m]))",
                    "DLQ frames {{venue}} {{instance}}",
                ),
                (
                    f"sum by (instance, venue, reason_kind) (increase({_sel(n.DECODE_ERRORS)}[5m]))",
                    "{{venue}} {{reason_kind}} {{instance}}",
                ),
                (
                    f"sum by (instance, buffer) (increase({_sel(n.BUFFER_DROPPED)}[5m]))",
                    "dropped by {{buffer}} buffer {{instance}}",
                ),
            )
        )
        .with_panel(
            _series(
                "REST weight spent / min",
                "Binance request weight used by snapshots and backfill (the venue allows 6000 / min).",
                "none",
                (f"sum by (instance, venue) (increase({_sel(n.REST_WEIGHT)}[1m]))", "{{venue}} {{instance}}"),
            )
        )
    )
    builder = (
        builder.with_row(dash.Row("Process and alerts"))
        .with_panel(
            _series(
                "Resident memory",
                "process_resident_memory_bytes of the feed process.",
                "bytes",
                (_sel(n.RSS), "{{instance}}"),
            )
        )
        .with_panel(
            _series(
                "CPU",
                "CPU seconds per second of the feed process.",
                "percentunit",
                (f"rate({_sel(n.CPU)}[{RATE}])", "{{instance}}"),
            )
        )
        .with_panel(
            statetimeline.Panel()
            .title("Feed alerts")
            .description("Alert states from Prometheus (ALERTS): 1 pending (yellow), 2 firing (red).")
            .datasource(DATASOURCE)
            .height(8)
            .span(24)
            .thresholds(_thresholds((None, "yellow"), (2, "red")))
            .with_target(
                _query(
                    f"max by (alertname, instance) ({_alerts('firing')} * 2 or {_alerts('pending')})",
                    "{{alertname}} {{instance}}",
                )
            )
        )
    )
    return builder


def dashboard_json(settings: RuleSettings) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model."""
    document: dict[str, Any] = json.loads(json.dumps(build_dashboard(settings).build(), cls=JSONEncoder))
    return document


def queries(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(panel title, PromQL expression)`` of every query in a dashboard document."""

    def walk(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            for target in panel.get("targets") or []:
                if target.get("expr"):
                    yield panel.get("title", "?"), target["expr"]
            yield from walk(panel.get("panels") or [])

    yield from walk(document.get("panels") or [])
