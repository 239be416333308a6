"""Feed metrics: own registry per feed, every metric exposed, /metrics served on loopback."""

from __future__ import annotations

import itertools
import socket
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from feed import metrics as feed_metrics
from feed.metrics import LATENCY_BUCKETS, FeedMetrics

COUNTERS = [
    "tickstorm_feed_messages_total",
    "tickstorm_feed_bytes_total",
    "tickstorm_feed_decode_errors_total",
    "tickstorm_feed_reconnects_total",
    "tickstorm_feed_connection_attempts_total",
    "tickstorm_feed_gaps_total",
    "tickstorm_feed_lost_ids_total",
    "tickstorm_feed_resyncs_total",
    "tickstorm_feed_backfilled_events_total",
    "tickstorm_feed_duplicates_dropped_total",
    "tickstorm_feed_buffer_dropped_events_total",
    "tickstorm_feed_rest_weight_used_total",
    "tickstorm_feed_dlq_frames_total",
]
GAUGES = ["tickstorm_feed_stale_streams", "tickstorm_feed_connections_open", "tickstorm_feed_build_info"]
HISTOGRAMS = ["tickstorm_feed_exchange_to_receive_seconds", "tickstorm_feed_receive_to_delivery_seconds"]


def samples(metrics: FeedMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


V = "binance-spot"


def test_render_contains_every_metric() -> None:
    metrics = FeedMetrics()
    metrics.add_venue(V, "binance-spot")
    metrics.messages.labels(V, "trade")
    metrics.decode_errors.labels(V, "json")
    metrics.gaps.labels(V, "trade")
    metrics.lost_ids.labels(V, "trade")
    text = metrics.render().decode()
    for name in COUNTERS + GAUGES:
        assert f"\n{name}" in text or text.startswith(name), name
        assert f"# TYPE {name.removesuffix('_total')}" in text
    for name in HISTOGRAMS:
        assert f"# TYPE {name} histogram" in text
        assert f'{name}_bucket{{le="1e-05",venue="{V}"}}' in text
        assert f'{name}_bucket{{le="10.0",venue="{V}"}}' in text


def test_values_and_labels_per_venue() -> None:
    metrics = FeedMetrics()
    for venue in (V, "spot-b"):
        metrics.add_venue(venue, "binance-spot")
    metrics.messages.labels(V, "trade").inc(3)
    metrics.messages.labels(V, "depth").inc()
    metrics.messages.labels("spot-b", "trade").inc(5)
    metrics.bytes.labels(V).inc(1500)
    metrics.decode_errors.labels(venue=V, reason_kind="invalid_json").inc()
    metrics.lost_ids.labels(V, "aggTrade").inc(7)
    metrics.stale_streams.labels(V).set(2)
    metrics.connections_open.labels("spot-b").set(4)
    metrics.exchange_to_receive.labels(V).observe(0.0002)
    metrics.receive_to_delivery.labels(V).observe(0.00003)
    got = samples(metrics)
    assert got[("tickstorm_feed_messages_total", (("stream_kind", "trade"), ("venue", V)))] == 3
    assert got[("tickstorm_feed_messages_total", (("stream_kind", "depth"), ("venue", V)))] == 1
    assert got[("tickstorm_feed_messages_total", (("stream_kind", "trade"), ("venue", "spot-b")))] == 5
    assert got[("tickstorm_feed_bytes_total", (("venue", V),))] == 1500
    assert got[("tickstorm_feed_bytes_total", (("venue", "spot-b"),))] == 0  # exported from the start
    assert got[("tickstorm_feed_decode_errors_total", (("reason_kind", "invalid_json"), ("venue", V)))] == 1
    assert got[("tickstorm_feed_lost_ids_total", (("stream_kind", "aggTrade"), ("venue", V)))] == 7
    assert got[("tickstorm_feed_stale_streams", (("venue", V),))] == 2
    assert got[("tickstorm_feed_connections_open", (("venue", "spot-b"),))] == 4
    assert got[("tickstorm_feed_venue_info", (("adapter", "binance-spot"), ("venue", "spot-b")))] == 1
    e2r = "tickstorm_feed_exchange_to_receive_seconds_bucket"
    assert (
        got[(e2r, (("le", "0.0001"), ("venue", V)))] == 0
        and got[(e2r, (("le", "0.00025"), ("venue", V)))] == 1
    )
    assert got[(e2r, (("le", "+Inf"), ("venue", "spot-b")))] == 0
    r2d = "tickstorm_feed_receive_to_delivery_seconds_bucket"
    assert (
        got[(r2d, (("le", "2.5e-05"), ("venue", V)))] == 0
        and got[(r2d, (("le", "5e-05"), ("venue", V)))] == 1
    )


def test_buckets_cover_10us_to_10s() -> None:
    assert LATENCY_BUCKETS[0] == 1e-5 and LATENCY_BUCKETS[-1] == 10.0
    assert list(LATENCY_BUCKETS) == sorted(set(LATENCY_BUCKETS))
    ratios = [b / a for a, b in itertools.pairwise(LATENCY_BUCKETS)]
    assert max(ratios) <= 2.5  # fine enough resolution in every decade


def test_each_feed_has_its_own_registry() -> None:
    a, b = FeedMetrics(), FeedMetrics()  # would raise "Duplicated timeseries" on a shared registry
    a.add_venue(V, V)
    b.add_venue(V, V)
    a.reconnects.labels(V).inc()
    assert samples(a)[("tickstorm_feed_reconnects_total", (("venue", V),))] == 1
    assert samples(b)[("tickstorm_feed_reconnects_total", (("venue", V),))] == 0


def test_serve_fetch_close() -> None:
    metrics = FeedMetrics()
    metrics.add_venue(V, V)
    metrics.resyncs.labels(V).inc(2)
    port = metrics.serve("127.0.0.1", 0)
    try:
        assert port > 0 and metrics.port == port
        with pytest.raises(RuntimeError, match="already serving"):
            metrics.serve()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert response.status == 200
            body = response.read().decode()
        assert 'tickstorm_feed_resyncs_total{venue="binance-spot"} 2.0' in body
        for name in COUNTERS + GAUGES + HISTOGRAMS:
            assert name.removesuffix("_total") in body
    finally:
        metrics.close()
    assert metrics.port is None
    metrics.close()  # idempotent
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_fast_histogram_exposes_the_same_buckets_as_prometheus_own() -> None:
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from feed.metrics import LATENCY_BUCKETS, FastHistogram

    values = [0.000001, 0.00001, 0.00002, 0.003, 0.003, 2.5, 11.0]
    ours_reg, theirs_reg = CollectorRegistry(), CollectorRegistry()
    ours = FastHistogram("x_seconds", "doc")
    ours_reg.register(ours)
    theirs = Histogram("x_seconds", "doc", buckets=LATENCY_BUCKETS, registry=theirs_reg)
    for v in values:
        ours.observe(v)
        theirs.observe(v)

    def samples(reg: CollectorRegistry) -> list[str]:
        return sorted(line for line in generate_latest(reg).decode().splitlines() if not line.startswith("#"))

    assert [s for s in samples(ours_reg) if "_created" not in s] == [
        s for s in samples(theirs_reg) if "_created" not in s
    ]
    assert ours.count == len(values)


@pytest.mark.timeout(30)
def test_a_connection_that_never_finishes_its_request_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slowloris on /metrics: a half-sent request head is dropped after the read timeout, and the endpoint
    still answers everyone else meanwhile."""
    monkeypatch.setattr(feed_metrics, "METRICS_READ_TIMEOUT_S", 0.5)
    metrics = FeedMetrics()
    port = metrics.serve("127.0.0.1", 0)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the blank line never comes
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                assert response.status == 200
            started = time.monotonic()
            assert slow.recv(1024) == b""  # closed by the server, not by our 10 s timeout
            assert time.monotonic() - started < 5
    finally:
        metrics.close()
