"""docs/metrics.md against what the feed exports; the feed's scrape-time gauges and counter call sites."""

from __future__ import annotations

import re
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from feed.config import FeedSettings
from feed.engine import REASON_KINDS
from feed.events import FeedEvent
from feed.feed import Feed
from feed.metrics import BUFFER_KINDS, BufferState, FeedMetrics, FeedState, StreamState
from observability import names as n

V = "binance-spot"


def exported(text: str) -> dict[str, tuple[str, frozenset[str]]]:
    """name (as queried: counters with ``_total``) → (type, label names) of an exposition."""
    out = {}
    for family in text_string_to_metric_families(text):
        name = family.name + "_total" if family.type == "counter" else family.name
        labels: set[str] = set()
        for sample in family.samples:
            labels |= set(sample.labels) - {"le"}
        out[name] = (family.type, frozenset(labels))
    return out


def exercised_metrics() -> FeedMetrics:
    """FeedMetrics with every labelled family given a child and a state source with one of everything."""
    metrics = FeedMetrics()
    metrics.add_venue(V, V)
    for counter in (metrics.messages, metrics.gaps, metrics.lost_ids):
        counter.labels(V, "trade").inc()
    metrics.decode_errors.labels(V, "malformed_json").inc()
    streams = [StreamState(V, "BTCUSDT", "btcusdt@trade", False, time.time(), 1.0)]
    metrics.set_state_source(lambda: FeedState(streams, [BufferState(k, 0, 10) for k in BUFFER_KINDS]))
    return metrics


def test_every_exported_family_is_documented_and_every_documented_one_exported(
    documented_metrics: dict[str, tuple[str, frozenset[str]]],
) -> None:
    metrics = exercised_metrics()
    port = metrics.serve("127.0.0.1", 0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            got = exported(response.read().decode())
    finally:
        metrics.close()
    docs = documented_metrics
    assert len(docs) >= 30, "the table in docs/metrics.md was not parsed"
    assert sorted(set(got) - set(docs)) == [], "exported but not in docs/metrics.md"
    assert sorted(set(docs) - set(got)) == [], "in docs/metrics.md but not exported"
    wrong = {name: (got[name], docs[name]) for name in docs if got[name] != docs[name]}
    assert wrong == {}, "type or labels differ (exported, documented)"


def test_the_dashboards_venue_labelled_families_are_the_ones_with_a_venue_label() -> None:
    got = exported(exercised_metrics().render().decode())
    assert {name for name, (_, labels) in got.items() if "venue" in labels} == n.VENUE_LABELLED


def test_names_follow_prometheus_conventions() -> None:
    for name, (kind, labels) in exported(exercised_metrics().render().decode()).items():
        if name.startswith(("process_", "python_")):
            continue
        assert name.startswith("tickstorm_feed_"), name
        assert (kind == "counter") == name.endswith("_total"), name
        assert not re.search(r"_(ms|us|milliseconds|microseconds|kb|mb)(_|$)", name), (
            f"{name}: not a base unit"
        )
        allowed = {"stream_kind", "reason_kind", "buffer", "symbol", "stream", "venue", "adapter", "version"}
        assert labels <= allowed, name


def feed_samples(feed: Feed) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(feed.metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_reason_kind_is_bounded_for_whatever_the_venue_sends() -> None:
    feed = Feed(FeedSettings(symbols=["btcusdt"], streams=["trade"], dlq_path=None))
    venue = feed.venue()
    venue.engine.watch(venue.specs(), 0)
    frames = [
        b"not json at all",
        b"[1, 2, 3]",
        b'{"stream": "btcusdt@trade", "data": {"e": "trade", "t": "x"}}',
        b'{"stream": "zzz@' + b"q" * 300 + b'", "data": {}}',
        b'{"stream": "ethusdt@trade", "data": {"e": "trade", "E": 1, "s": "ETHUSDT", "t": 1, "p": "1", '
        b'"q": "1", "T": 1, "m": true, "M": true}}',
        b'{"e": "something new ' + b"y" * 100 + b'"}',
        b'{"result": null, "id": [1]}',
        b'{"stream": "btcusdt@trade"',
    ]
    for frame in frames:
        venue.engine.receive_frame(frame, time.monotonic_ns())
    venue.flush()
    feed._flush_counters()
    allowed = {kind for _, kind in REASON_KINDS}
    got = feed_samples(feed)
    seen = {
        dict(labels)["reason_kind"] for (name, labels) in got if name == "tickstorm_feed_decode_errors_total"
    }
    assert got[("tickstorm_feed_dlq_frames_total", (("venue", V),))] == len(frames)
    assert seen and seen <= allowed, seen
    assert len(seen) >= 5  # distinct problems keep distinct kinds


def test_feed_exports_each_stream_and_the_fullest_buffer_of_each_kind() -> None:
    settings = FeedSettings(
        symbols=["btcusdt", "ethusdt"],
        streams=["trade", "kline_1m", "kline_5m"],
        dlq_path=None,
        buffer_capacity=50,
    )
    feed = Feed(settings)
    before = time.time()
    venue = feed.venue()
    venue.engine.watch(venue.specs(), time.monotonic_ns())
    roomy, tight = feed.subscribe(), feed.subscribe(capacity=4)
    for i in range(3):
        event = FeedEvent(type="market", venue=V, recv_ns=time.monotonic_ns(), id=i)
        roomy.push(event)
        tight.push(event)
    got = feed_samples(feed)
    assert len(venue.engine.streams) == 6
    for name, state in venue.engine.streams.items():
        labels = (("stream", name), ("symbol", state.spec.symbol), ("venue", V))
        assert got[("tickstorm_feed_stream_stale", labels)] == 0
        assert (
            before - 1 <= got[("tickstorm_feed_stream_last_message_timestamp_seconds", labels)] <= time.time()
        )
        assert (
            got[("tickstorm_feed_stream_stale_threshold_seconds", labels)] == venue.settings.stale_ceiling_s
        )
    # 3 of 4 beats 3 of 50: the fullest subscriber buffer is the tight one
    assert got[("tickstorm_feed_buffer_depth", (("buffer", "subscriber"),))] == 3
    assert got[("tickstorm_feed_buffer_capacity", (("buffer", "subscriber"),))] == 4
    assert got[("tickstorm_feed_buffer_depth", (("buffer", "reorder_hold"),))] == 0
    assert got[("tickstorm_feed_buffer_capacity", (("buffer", "reorder_hold"),))] == 50
    tight.push(FeedEvent(type="market", venue=V, recv_ns=time.monotonic_ns(), id=9))
    tight.push(FeedEvent(type="market", venue=V, recv_ns=time.monotonic_ns(), id=10))
    got = feed_samples(feed)
    assert got[("tickstorm_feed_buffer_dropped_events_total", (("buffer", "subscriber"),))] == 1
    assert got[("tickstorm_feed_buffer_depth", (("buffer", "subscriber"),))] == 4


def test_stale_stream_is_exported_as_stale() -> None:
    settings = FeedSettings(symbols=["btcusdt"], streams=["trade", "bookTicker"], dlq_path=None)
    feed = Feed(settings)
    venue = feed.venue()
    venue.engine.watch(venue.specs(), 0)
    venue.tick(int((venue.settings.stale_ceiling_s + 1) * 1e9))  # nothing arrived within the ceiling
    feed._flush_counters()
    got = feed_samples(feed)
    labels = (("stream", "btcusdt@trade"), ("symbol", "BTCUSDT"), ("venue", V))
    assert got[("tickstorm_feed_stream_stale", labels)] == 1
    assert got[("tickstorm_feed_stale_streams", (("venue", V),))] == 2


def test_connection_states_count_reconnects_once_and_rotations_not_at_all() -> None:
    settings = FeedSettings(
        venues=[{"symbols": "btcusdt"}, {"name": "b", "symbols": "btcusdt"}], dlq_path=None
    )
    feed = Feed(settings)
    venue = feed.venue(V)
    for state in ("connected", "dead_peer", "disconnected", "connect_failed", "connected"):
        venue._on_connection_state(state)
    for state in ("rotating", "connected", "rotated"):  # make-before-break: new one up, old one closed
        venue._on_connection_state(state)
    got = feed_samples(feed)
    assert (
        got[("tickstorm_feed_reconnects_total", (("venue", V),))] == 1
    )  # dead peer also reported disconnected
    assert got[("tickstorm_feed_connection_attempts_total", (("venue", V),))] == 4
    assert got[("tickstorm_feed_connections_open", (("venue", V),))] == 1
    # the other venue's series exist from the start and stay untouched
    assert got[("tickstorm_feed_reconnects_total", (("venue", "b"),))] == 0
    assert got[("tickstorm_feed_connections_open", (("venue", "b"),))] == 0
