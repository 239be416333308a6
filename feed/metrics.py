"""Prometheus metrics of the feed, in a registry of its own (many feeds can live in one test process).

Attributes are named after the metric without the ``tickstorm_feed_`` prefix and ``_total`` suffix, e.g.
``metrics.messages.labels("trade").inc()`` or ``metrics.exchange_to_receive.observe(0.002)``.
Per-stream staleness and buffer fill are read from the running feed when scraped
(:meth:`FeedMetrics.set_state_source`), so the event loop pays nothing for them.
:meth:`FeedMetrics.serve` exposes ``/metrics`` on a loopback port; everything else is pure bookkeeping.
docs/metrics.md lists every exported family (tests/observability keeps it in step with this module).
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import cast
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from tickstorm.http_guard import HEADER_READ_TIMEOUT_S
from tickstorm.ports import listening

PREFIX = "tickstorm_feed_"
METRICS_READ_TIMEOUT_S = HEADER_READ_TIMEOUT_S
"""How long a /metrics connection may stay silent (a half-sent request, an idle keep-alive) before it is
closed: every connection holds a thread of prometheus_client's server."""

LATENCY_BUCKETS: tuple[float, ...] = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Histogram buckets in seconds: 10 µs .. 10 s, 1-2.5-5 steps per decade."""

BUFFER_KINDS: tuple[str, ...] = ("subscriber", "book_diffs", "reorder_hold")
"""Values of the ``buffer`` label: subscribers' queues, diffs held for a book resync, trades held back
while a hole in the ids is reordered or backfilled."""

DROPPING_BUFFERS: tuple[str, ...] = ("subscriber", "book_diffs")
"""Buffer kinds that drop events when full (an overflowing reorder hold declares its hole lost instead)."""


def _version() -> str:
    try:
        return metadata.version("tickstorm")
    except metadata.PackageNotFoundError:
        return "unknown"


log = logging.getLogger(__name__)


class HistogramChild:
    """One label set of a :class:`FastHistogram`: plain counts, one bisect and two additions per value."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last slot is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Record one value (seconds)."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        """Observations so far."""
        return sum(self.counts)


class FastHistogram(Collector):
    """A Prometheus histogram whose ``observe`` costs one bisect and two additions.

    prometheus-client's own Histogram takes a lock and walks every bucket on each observation, which is
    several microseconds at hundreds of thousands of events per second; this one keeps plain counts and
    builds the exposition only when scraped (single-threaded writers: the feed's event loop). With
    ``labelnames``, :meth:`labels` returns the child of one label set (like prometheus-client's).
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: tuple[float, ...] = LATENCY_BUCKETS,
        labelnames: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = buckets
        self.labelnames = labelnames
        self._children: dict[tuple[str, ...], HistogramChild] = {}
        self._default = None if labelnames else self.labels()

    def labels(self, *values: str) -> HistogramChild:
        """The child of one label set (created at first use)."""
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values}")
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = HistogramChild(self.bounds)
        return child

    def observe(self, value: float) -> None:
        """Record one value (unlabelled histograms only)."""
        assert self._default is not None, f"{self.name} has labels: use .labels(...).observe()"
        self._default.observe(value)

    @property
    def count(self) -> int:
        """Observations so far, every label set."""
        return sum(child.count for child in list(self._children.values()))

    def collect(self) -> Iterator[HistogramMetricFamily]:
        """The exposition (cumulative buckets, as Prometheus expects)."""
        family = HistogramMetricFamily(self.name, self.documentation, labels=list(self.labelnames))
        for values, child in list(self._children.items()):
            running = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip((*map(floatToGoString, self.bounds), "+Inf"), child.counts, strict=True):
                running += count
                buckets.append((bound, running))
            family.add_metric(list(values), buckets, child.sum)
        yield family


@dataclass(frozen=True)
class StreamState:
    """One subscribed stream as the feed sees it at scrape time."""

    venue: str  # the venue instance
    symbol: str  # the venue's symbol (``BTCUSDT``)
    stream: str  # the venue's stream name (``btcusdt@depth@100ms``)
    stale: bool
    last_message_unix_s: float  # wall-clock time of its last message (or of its subscription)
    stale_threshold_s: float  # silence longer than this makes it stale (adapts to its message rate)


@dataclass(frozen=True)
class BufferState:
    """The fullest buffer of one kind: events it holds and its capacity."""

    buffer: str  # one of BUFFER_KINDS
    depth: int
    capacity: int


@dataclass(frozen=True)
class FeedState:
    """What the scrape-time collector reads from the running feed."""

    streams: Sequence[StreamState] = ()
    buffers: Sequence[BufferState] = field(default_factory=tuple)


StateSource = Callable[[], FeedState]


class _StateCollector(Collector):
    """Per-stream staleness and buffer fill, read from the feed when Prometheus scrapes."""

    def __init__(self) -> None:
        self.source: StateSource | None = None

    def _read(self) -> FeedState:
        source = self.source
        if source is None:
            return FeedState()
        for _ in range(3):  # the event loop may resize a dict while this (HTTP) thread reads it
            try:
                return source()
            except RuntimeError:
                continue
        log.warning("feed state changed during three scrapes in a row; per-stream metrics skipped")
        return FeedState()

    def collect(self) -> Iterator[Metric]:
        """The per-stream and buffer families (always present, possibly without samples)."""
        state = self._read()
        stream_labels = ["venue", "symbol", "stream"]
        stale = GaugeMetricFamily(
            PREFIX + "stream_stale",
            "1 while the stream is stale (silent for longer than its threshold), else 0.",
            labels=stream_labels,
        )
        last = GaugeMetricFamily(
            PREFIX + "stream_last_message_timestamp_seconds",
            "Unix time of the stream's last message (its subscription time before the first one).",
            labels=stream_labels,
        )
        threshold = GaugeMetricFamily(
            PREFIX + "stream_stale_threshold_seconds",
            "Silence after which the stream counts as stale (adapts to its own message rate).",
            labels=stream_labels,
        )
        for s in state.streams:
            labels = [s.venue, s.symbol, s.stream]
            stale.add_metric(labels, 1.0 if s.stale else 0.0)
            last.add_metric(labels, s.last_message_unix_s)
            threshold.add_metric(labels, s.stale_threshold_s)
        depth = GaugeMetricFamily(
            PREFIX + "buffer_depth",
            "Events held by the fullest buffer of each kind.",
            labels=["buffer"],
        )
        capacity = GaugeMetricFamily(
            PREFIX + "buffer_capacity",
            "Capacity in events of the fullest buffer of each kind (drops start beyond it).",
            labels=["buffer"],
        )
        for b in state.buffers:
            depth.add_metric([b.buffer], float(b.depth))
            capacity.add_metric([b.buffer], float(b.capacity))
        yield from (stale, last, threshold, depth, capacity)


class _Registry(CollectorRegistry):
    """A registry that leaves out counters' ``_created`` samples.

    prometheus-client adds a ``<name>_created`` series (creation time) to every counter child; Prometheus
    stores it as one more metric per counter, no query of ours reads it, and docs/metrics.md would have to
    list it 17 times. Filtering here keeps the global ``disable_created_metrics()`` switch untouched.
    """

    def collect(self) -> Iterator[Metric]:
        """Every metric, without ``_created`` samples."""
        for metric in super().collect():
            if metric.type == "counter":
                metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield metric


class FeedMetrics:
    """Counters, gauges and latency histograms of one feed, plus the process's own metrics."""

    def __init__(self) -> None:
        self.registry: CollectorRegistry = _Registry(auto_describe=True)
        reg = self.registry

        def counter(name: str, doc: str, labels: tuple[str, ...] = ("venue",)) -> Counter:
            return Counter(PREFIX + name, doc, labelnames=labels, registry=reg)

        self.build_info = Gauge(
            PREFIX + "build_info", "Always 1; the tickstorm version.", labelnames=("version",), registry=reg
        )
        self.build_info.labels(_version()).set(1)
        self.venue_info = Gauge(
            PREFIX + "venue_info",
            "Always 1 for each venue the feed ingests: its instance name and its adapter.",
            labelnames=("venue", "adapter"),
            registry=reg,
        )

        self.messages = counter(
            "messages_total", "Messages received, by venue and stream kind.", ("venue", "stream_kind")
        )
        self.bytes = counter("bytes_total", "Payload bytes received, by venue.")
        self.decode_errors = counter(
            "decode_errors_total",
            "Frames that could not be decoded, by venue and reason kind.",
            ("venue", "reason_kind"),
        )
        self.reconnects = counter(
            "reconnects_total", "Connections lost (closed or declared dead) and then re-established."
        )
        self.connection_attempts = counter("connection_attempts_total", "WebSocket connection attempts.")
        self.gaps = counter(
            "gaps_total", "Gaps reported to subscribers, by venue and stream kind.", ("venue", "stream_kind")
        )
        self.lost_ids = counter(
            "lost_ids_total",
            "Venue ids reported lost (never delivered), by venue and stream kind.",
            ("venue", "stream_kind"),
        )
        self.resyncs = counter("resyncs_total", "Order book resynchronisations.")
        self.backfilled_events = counter("backfilled_events_total", "Events delivered from REST backfill.")
        self.duplicates_dropped = counter("duplicates_dropped_total", "Duplicate events dropped.")
        self.buffer_dropped_events = counter(
            "buffer_dropped_events_total",
            "Events dropped by a buffer's overflow policy, by buffer kind (all venues).",
            ("buffer",),
        )
        self.rest_weight_used = counter("rest_weight_used_total", "REST request weight spent.")
        self.dlq_frames = counter(
            "dlq_frames_total", "Frames rejected into the dead letter queue (counted with or without a file)."
        )
        for kind in DROPPING_BUFFERS:  # exported from the start: increase() needs the zero
            self.buffer_dropped_events.labels(kind)

        self.stale_streams = Gauge(
            PREFIX + "stale_streams",
            "Streams currently stale, by venue.",
            labelnames=("venue",),
            registry=reg,
        )
        self.connections_open = Gauge(
            PREFIX + "connections_open",
            "WebSocket connections open, by venue.",
            labelnames=("venue",),
            registry=reg,
        )

        self.exchange_to_receive = FastHistogram(
            PREFIX + "exchange_to_receive_seconds",
            "Venue event time to feed receive time, seconds (includes clock offset), by venue.",
            labelnames=("venue",),
        )
        self.receive_to_delivery = FastHistogram(
            PREFIX + "receive_to_delivery_seconds",
            "Feed receive time to delivery to subscribers, seconds, by venue.",
            labelnames=("venue",),
        )
        reg.register(self.exchange_to_receive)
        reg.register(self.receive_to_delivery)
        self._state = _StateCollector()
        self.registry.register(self._state)

        # The process's memory, CPU and file descriptors, Python's version and GC (process_*, python_*).
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def add_venue(self, venue: str, adapter: str) -> None:
        """Export a venue's series from the start (``increase()`` needs the zeros)."""
        self.venue_info.labels(venue, adapter).set(1)
        for family in (
            self.bytes,
            self.reconnects,
            self.connection_attempts,
            self.resyncs,
            self.backfilled_events,
            self.duplicates_dropped,
            self.rest_weight_used,
            self.dlq_frames,
            self.stale_streams,
            self.connections_open,
        ):
            family.labels(venue)
        self.exchange_to_receive.labels(venue)
        self.receive_to_delivery.labels(venue)

    def set_state_source(self, source: StateSource | None) -> None:
        """Read per-stream staleness and buffer fill from ``source()`` at each scrape (None: none).

        ``source`` runs on the HTTP server's thread: it must only read (a ``RuntimeError`` from a dict
        resized meanwhile is retried).
        """
        self._state.source = source

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve ``/metrics`` on ``host:port`` (0 = any free port) from a daemon thread; return the port."""
        if self._server is not None:
            raise RuntimeError("FeedMetrics is already serving; call close() first")
        with listening("metrics endpoint", host, port):
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        # A connection that sends no complete request within the timeout is closed (each holds a thread).
        handler = cast(type, server.RequestHandlerClass)  # prometheus_client's WSGI handler class
        server.RequestHandlerClass = type(
            "TimedMetricsHandler", (handler,), {"timeout": METRICS_READ_TIMEOUT_S}
        )
        self._server, self._thread = server, thread
        return int(server.server_port)

    @property
    def port(self) -> int | None:
        """The bound port while serving, else None."""
        return int(self._server.server_port) if self._server is not None else None

    def close(self) -> None:
        """Stop the HTTP server (no-op when not serving)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
