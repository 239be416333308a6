"""The PromQL helpers: durations and the metric names an expression reads."""

from __future__ import annotations

import pytest

from observability.promql import format_duration, metric_names, parse_duration, without_grafana_variables


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("1m", 60), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200), ("0s", 0)]
)
def test_durations_round_trip(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == text


@pytest.mark.parametrize("bad", ["", "30", "1.5m", "m", "30s ", "1m x"])
def test_malformed_durations_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('up{job="tickstorm-feed"} == 0', {"up"}),
        ('absent(up{job="x"})', {"up"}),
        (
            "histogram_quantile(0.99, sum by (job, instance, le) (rate(a_seconds_bucket[5m]))) > 0.05",
            {"a_seconds_bucket"},
        ),
        ("max by (job, buffer) (depth / capacity) >= 0.8", {"depth", "capacity"}),
        ('time() - last_timestamp_seconds{instance=~"$instance"}', {"last_timestamp_seconds"}),
        (
            'sum(rate(x_total{a="by (b)"}[1m] offset 5m)) * on (instance) group_left (venue) info',
            {"x_total", "info"},
        ),
        ('ALERTS{alertstate="firing"} * 2 or ALERTS{alertstate="pending"}', {"ALERTS"}),
        ('{__name__="named_metric"}', {"named_metric"}),
        ("1e3 * count(rate(m:recorded[5m]))", {"m:recorded"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_grafana_variables_become_plain_promql() -> None:
    expr = 'rate(x{instance=~"$instance", job="$job"}[$__rate_interval])'
    assert without_grafana_variables(expr) == 'rate(x{instance=~".+", job="tickstorm-feed"}[1m])'
