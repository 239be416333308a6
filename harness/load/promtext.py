"""Read the feed's Prometheus exposition: histogram snapshots, deltas between scrapes, percentiles.

The feed's histograms are cumulative since start; a load step is judged on the difference of two scrapes.
:func:`fraction_within` is exact when the bound is a bucket edge (the SLA bounds 50/250/1000 ms are);
:func:`quantile` interpolates inside a bucket like PromQL's ``histogram_quantile``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts by upper bound (seconds, +Inf last), plus sum and count."""

    bounds: tuple[float, ...] = ()
    cumulative: tuple[float, ...] = ()
    sum: float = 0.0

    @property
    def count(self) -> float:
        """Observations (the +Inf bucket)."""
        return self.cumulative[-1] if self.cumulative else 0.0

    def minus(self, earlier: Histogram) -> Histogram:
        """The observations made between ``earlier`` and this scrape."""
        if not earlier.cumulative:
            return self
        if earlier.bounds != self.bounds:
            raise ValueError("histograms with different buckets")
        return Histogram(
            self.bounds,
            tuple(a - b for a, b in zip(self.cumulative, earlier.cumulative, strict=True)),
            self.sum - earlier.sum,
        )


@dataclass(frozen=True)
class Scrape:
    """One scrape: histograms and plain samples (counters/gauges) by name."""

    histograms: dict[str, Histogram] = field(default_factory=dict)
    samples: dict[str, float] = field(default_factory=dict)

    def histogram(self, name: str) -> Histogram:
        """A histogram by family name (``_seconds`` included); empty when absent."""
        return self.histograms.get(name, Histogram())

    def value(self, name: str, default: float = 0.0) -> float:
        """A counter (``_total`` may be omitted) or gauge value."""
        if name in self.samples:
            return self.samples[name]
        return self.samples.get(name + "_total", default)


def parse(text: str) -> Scrape:
    """Parse a Prometheus text exposition (unlabelled samples and label-free histograms)."""
    histograms: dict[str, Histogram] = {}
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.type == "histogram":
            buckets: list[tuple[float, float]] = []
            total = 0.0
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    buckets.append((float(sample.labels["le"]), sample.value))
                elif sample.name.endswith("_sum"):
                    total = sample.value
            buckets.sort()
            histograms[family.name] = Histogram(
                tuple(b for b, _ in buckets), tuple(c for _, c in buckets), total
            )
            continue
        for sample in family.samples:
            if not sample.labels:
                samples[sample.name] = sample.value
            else:
                samples[sample.name] = samples.get(sample.name, 0.0) + sample.value
    return Scrape(histograms, samples)


def quantile(hist: Histogram, q: float) -> float | None:
    """The q-quantile in seconds (linear inside the bucket; None without observations).

    A quantile that falls in the +Inf bucket returns the largest finite bound (a lower bound).
    """
    total = hist.count
    if total <= 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound, cumulative in zip(hist.bounds, hist.cumulative, strict=True):
        if cumulative >= rank:
            if math.isinf(bound):
                return previous_bound
            in_bucket = cumulative - previous_count
            if in_bucket <= 0:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / in_bucket
        previous_bound, previous_count = (bound if not math.isinf(bound) else previous_bound), cumulative
    return previous_bound


def fraction_within(hist: Histogram, bound_s: float) -> float | None:
    """Share of observations <= ``bound_s`` (exact at a bucket edge, interpolated otherwise)."""
    total = hist.count
    if total <= 0:
        return None
    previous_bound, previous_count = 0.0, 0.0
    for bound, cumulative in zip(hist.bounds, hist.cumulative, strict=True):
        if math.isclose(bound, bound_s, rel_tol=1e-9):
            return cumulative / total
        if bound > bound_s:
            if math.isinf(bound):
                return previous_count / total
            share = (bound_s - previous_bound) / (bound - previous_bound)
            return (previous_count + share * (cumulative - previous_count)) / total
        previous_bound, previous_count = bound, cumulative
    return 1.0
