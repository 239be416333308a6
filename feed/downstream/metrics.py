"""Metrics of the downstream server, exposed in the feed's own Prometheus registry (same ``/metrics``).

Counters are plain integers bumped on the hot path (no locks: one event loop writes them) and turned into
Prometheus families only when scraped. The latency histogram is the end-to-end figure the load shape reads:
from the venue's event time (the mock venue rewrites it to the *intended* send time, so a stalled sender
cannot hide latency) to the moment an event's bytes are handed to a consumer's socket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from feed.metrics import PREFIX, FastHistogram

SEND_BUCKETS: tuple[float, ...] = (
    *(
        round(step * 10.0**exponent, 6)
        for exponent in range(-4, 1)
        for step in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.5)
    ),
    10.0,
)
"""Buckets of the send-latency histogram, seconds: 100 µs .. 10 s, nine steps per decade. Finer than the
feed's own (1-2.5-5) because the load shape reads its p99 near the SLA bounds (10, 50, 250, 1000 ms are
edges, so "within SLA" is exact) and the knee report should not be one 25-50 ms bucket wide."""

DOWNSTREAM_PREFIX = PREFIX + "downstream_"
EXCHANGE_TO_SEND = DOWNSTREAM_PREFIX + "exchange_to_send_seconds"
EVENTS_SENT = DOWNSTREAM_PREFIX + "events_sent"
FRAMES_SENT = DOWNSTREAM_PREFIX + "frames_sent"
EVENTS_DROPPED = DOWNSTREAM_PREFIX + "events_dropped"
DISCONNECTS = DOWNSTREAM_PREFIX + "slow_disconnects"
CONSUMERS = DOWNSTREAM_PREFIX + "consumers"
QUEUED = DOWNSTREAM_PREFIX + "queued_events"


class DownstreamMetrics(Collector):
    """Counters, gauges and the send-latency histogram of one downstream server."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.exchange_to_send = FastHistogram(
            EXCHANGE_TO_SEND,
            "Venue event time (intended send time on the mock venue) to written to a consumer's socket, "
            "seconds, one observation per event per consumer.",
            SEND_BUCKETS,
        )
        self.events_sent = 0
        self.frames_sent = 0
        self.events_dropped = 0
        self.slow_disconnects = 0
        self.consumers: Callable[[], int] = lambda: 0
        self.queued: Callable[[], int] = lambda: 0
        if registry is not None:
            registry.register(self.exchange_to_send)
            registry.register(self)

    def collect(self) -> Iterator[Metric]:
        """The exposition of the counters and gauges (the histogram is its own collector)."""
        for name, doc, value in (
            (EVENTS_SENT, "Events written to consumers (one per event per consumer).", self.events_sent),
            (FRAMES_SENT, "WebSocket messages written to consumers.", self.frames_sent),
            (
                EVENTS_DROPPED,
                "Events dropped by consumer queues (each reported as a gap).",
                self.events_dropped,
            ),
            (DISCONNECTS, "Consumers disconnected by the slow-consumer policy.", self.slow_disconnects),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        yield GaugeMetricFamily(CONSUMERS, "Connected consumers.", value=self.consumers())
        yield GaugeMetricFamily(QUEUED, "Events waiting in consumer queues.", value=self.queued())
