"""Read the feed's own figures over its downstream HTTP API: ``/metrics`` and ``/stats``.

Metric names come from the code that defines them (:mod:`feed.downstream.metrics` constants, and the
name attribute of the feed's ingest histogram), so a renamed family is followed, not silently missed.
Blocking ``urllib`` calls: fine in the Locust master (gevent patches them) and in plain threads.
"""

from __future__ import annotations

import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import orjson

from feed.downstream import metrics as dm
from feed.metrics import FeedMetrics
from harness.load import promtext
from harness.load.shape import Measurement, Step

TIMEOUT_S = 10.0


def ingest_histogram_name() -> str:
    """The family name of the feed's venue-event-time -> receive histogram."""
    return FeedMetrics().exchange_to_receive.name


@dataclass(frozen=True)
class Sample:
    """One reading of the feed: metrics, stats and when."""

    at: float
    scrape: promtext.Scrape
    stats: dict[str, Any]


class FeedProbe:
    """Reads one feed's downstream HTTP API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.ingest_name = ingest_histogram_name()

    def _get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.base_url + path, timeout=TIMEOUT_S) as response:
            body: bytes = response.read()
            return body

    def scrape(self) -> Sample:
        """Metrics and stats now."""
        text = self._get("/metrics").decode()
        stats = orjson.loads(self._get("/stats"))
        return Sample(time.time(), promtext.parse(text), stats)

    def measure(self, step: Step, before: Sample, since: float, *, slow_subscribers: int = 0) -> Measurement:
        """The step's figures: differences between ``before`` and a scrape now."""
        after = self.scrape()
        return measurement(
            step, before, after, slow_subscribers=slow_subscribers, ingest_name=self.ingest_name
        )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def measurement(
    step: Step, before: Sample, after: Sample, *, slow_subscribers: int = 0, ingest_name: str | None = None
) -> Measurement:
    """Build a :class:`Measurement` from two samples (pure; the SLA bound comes from the step's speed)."""
    from harness.sla import load_sla

    window = max(after.at - before.at, 1e-9)
    send = after.scrape.histogram(dm.EXCHANGE_TO_SEND).minus(before.scrape.histogram(dm.EXCHANGE_TO_SEND))
    ingest_family = ingest_name or ingest_histogram_name()
    ingest = after.scrape.histogram(ingest_family).minus(before.scrape.histogram(ingest_family))
    bound_ms = load_sla().level_for(step.speed).p99_ms or 0.0

    def delta(name: str) -> float:
        return after.scrape.value(name) - before.scrape.value(name)

    feed_delivered = after.stats["feed"]["delivered"] - before.stats["feed"]["delivered"]
    consumers = int(after.scrape.value(dm.CONSUMERS))
    return Measurement(
        step=step,
        window_s=round(window, 3),
        p99_ms=_ms(promtext.quantile(send, 0.99)),
        within_sla=promtext.fraction_within(send, bound_ms / 1000),
        ingest_p99_ms=_ms(promtext.quantile(ingest, 0.99)),
        feed_events_per_s=round(feed_delivered / window, 1),
        delivered_per_s=round(delta(dm.EVENTS_SENT) / window, 1),
        drops=int(delta(dm.EVENTS_DROPPED)),
        disconnects=int(delta(dm.DISCONNECTS)),
        subscribers=max(consumers - slow_subscribers, 0),
        extra={
            "p50_ms": _ms(promtext.quantile(send, 0.5)),
            "p999_ms": _ms(promtext.quantile(send, 0.999)),
            "latency_observations": int(send.count),
            "frames_per_s": round(delta(dm.FRAMES_SENT) / window, 1),
            "ingest_p50_ms": _ms(promtext.quantile(ingest, 0.5)),
            "t_start": before.at,
            "t_end": after.at,
        },
    )
