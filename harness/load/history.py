"""The history join for load runs: what each subscriber received against what the feed delivered.

The feed's ``--jsonl`` history is the reference: its *n*-th event (after the schema header) is the *n*-th
event the feed delivered, and a ``subscribed``/``unsubscribed`` reply's ``at`` is the feed's delivered
count when the change took effect, so every subscription segment is an exact window of the feed's history.
Events are keyed by their source (``<venue>/<stream>``) and routed to subscriptions by their normalized
``instrument`` and ``channel`` (docs/events.md), the same fields the downstream server routes by. Per
segment and stream the subscriber's events go through the chaos checkers' join
(:func:`harness.checks.delivery.check_stream`: no duplicate, in order, gaps exact) plus a stricter fan-out
check that applies to every stream kind, quotes included: each event the feed delivered in the window was
received or reported in a gap received by the subscriber, and nothing else was received.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from harness.checks.delivery import Delivered, Published, check_stream
from harness.checks.verdict import Verdict
from harness.feed_history import MARKET, read_feed_history

EVIDENCE = 5
STATUS = "status"
ALL = "*"
Key = tuple[str, str]
"""A subscription key: (instrument or ``*``, channel)."""


@dataclass
class StreamHistory:
    """One stream as the feed delivered it: delivery indices (1-based line numbers) and venue ids."""

    indices: list[int] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)


@dataclass
class FeedHistory:
    """The feed's delivered market events, per stream, in delivery order."""

    streams: dict[str, StreamHistory] = field(default_factory=dict)  # by source: "<venue>/<stream>"
    keys: dict[str, Key] = field(default_factory=dict)  # source -> (instrument, channel)
    delivered: int = 0

    def streams_of(self, key: Key) -> list[str]:
        """The sources whose events a subscription key receives."""
        return sorted(s for s in self.streams if self.keys.get(s) == key)

    def window(self, stream: str, after: int, upto: int | None) -> list[int]:
        """Ids of ``stream`` delivered at indices in (after, upto] (upto None: to the end)."""
        hist = self.streams.get(stream)
        if hist is None:
            return []
        lo = bisect_right(hist.indices, after)
        hi = len(hist.indices) if upto is None else bisect_right(hist.indices, upto)
        return hist.ids[lo:hi]


def load_feed_history(path: Path) -> FeedHistory:
    """Read the feed's ``--jsonl`` file (source, key and id of market events are kept)."""
    history = FeedHistory()
    index = 0
    for index, event in enumerate(read_feed_history(path), 1):
        if event.type == MARKET and event.stream and event.id is not None:
            source = f"{event.venue}/{event.stream}"
            hist = history.streams.get(source)
            if hist is None:
                hist = history.streams[source] = StreamHistory()
                history.keys[source] = (event.instrument, event.channel)
            hist.indices.append(index)
            hist.ids.append(event.id)
    history.delivered = index
    return history


def read_records(path: Path) -> Iterator[list[Any]]:
    """A subscriber history file's records (see :mod:`harness.load.client`)."""
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)


@dataclass
class Segment:
    """One subscription of one key, from ``start`` to ``end`` (feed delivered counts; None: open)."""

    key: Key
    start: int
    end: int | None = None
    closed_by_client: bool = False
    delivered: dict[str, Delivered] = field(default_factory=dict)


@dataclass
class SubscriberJoin:
    """The join of one subscriber: its segments and the verdicts."""

    name: str
    segments: list[Segment]
    verdicts: list[Verdict]
    received: int
    gap_ranges: int

    @property
    def ok(self) -> bool:
        """Every verdict passed."""
        return all(v.ok for v in self.verdicts)


def _segments(records: Iterable[list[Any]]) -> tuple[list[Segment], list[str]]:
    segments: list[Segment] = []
    active: dict[Key, Segment] = {}
    stray: list[str] = []
    for rec in records:
        kind = rec[0]
        if kind in ("s", "u"):
            _, at, instrument, channels = rec
            for channel in channels:
                sub: Key = (ALL if channel == STATUS else instrument, channel)
                if kind == "s" and sub not in active:
                    active[sub] = Segment(sub, at)
                    segments.append(active[sub])
                elif kind == "u" and sub in active:
                    active.pop(sub).end = at
        elif kind in ("e", "g"):
            _, instrument, channel, source, *rest = rec
            key = (instrument, channel) if source else None
            segment = active.get(key) if key is not None else None
            if segment is None:
                if key is not None:
                    stray.append(f"{kind}:{source}:{rest[-1] if kind == 'e' else rest[1]}")
                continue
            delivered = segment.delivered.setdefault(source, Delivered())
            if kind == "e":
                delivered.ids.append(rest[0])
            elif rest[0] is not None and rest[1] is not None:
                delivered.gaps.append((rest[0], rest[1]))
        elif kind == "x":
            for segment in active.values():
                segment.closed_by_client = True
            active.clear()
    return segments, stray


def join_subscriber(
    name: str, records: Iterable[list[Any]], feed: FeedHistory, *, strict_tail: bool
) -> SubscriberJoin:
    """Join one subscriber's history with the feed's.

    ``strict_tail``: a segment still open when the history ends is accountable up to the feed's last
    event (use it when the feed was quiet before the subscriber stopped reading); otherwise its window
    ends at the last id the subscriber received or saw in a gap, per stream.
    """
    segments, stray = _segments(records)
    verdicts: list[Verdict] = []
    received = gaps = 0
    for segment in segments:
        for stream in feed.streams_of(segment.key):
            delivered = segment.delivered.get(stream, Delivered())
            received += len(delivered.ids)
            gaps += len(delivered.gaps)
            published_ids = feed.window(stream, segment.start, segment.end)
            if segment.end is None and not strict_tail:
                seen = [*delivered.ids, *(g[1] for g in delivered.gaps)]
                limit = max(seen, default=None)
                published_ids = [] if limit is None else [i for i in published_ids if i <= limit]
            label = f"{name} {stream} ({segment.start}, {segment.end if segment.end is not None else 'end'}]"
            published = Published(ids=list(published_ids), intended_ns=[0] * len(published_ids))
            verdicts += check_stream(label, published, delivered)
            verdicts.append(_exact(label, published_ids, delivered))
    verdicts.append(
        Verdict(
            f"no event outside a subscription [{name}]",
            not stray,
            f"{len(stray)} events received while not subscribed" if stray else "none",
            {"first": stray[:EVIDENCE]},
        )
    )
    return SubscriberJoin(name, segments, verdicts, received, gaps)


def _exact(label: str, published: list[int], delivered: Delivered) -> Verdict:
    got = set(delivered.ids)
    ranges = sorted(delivered.gaps)
    starts = [r[0] for r in ranges]

    def in_gap(ident: int) -> bool:
        i = bisect_left(starts, ident + 1) - 1
        return i >= 0 and ranges[i][0] <= ident <= ranges[i][1]

    missing = [i for i in published if i not in got and not in_gap(i)]
    expected = set(published)
    extra = [i for i in delivered.ids if i not in expected]
    ok = not missing and not extra
    return Verdict(
        f"every event fanned out [{label}]",
        ok,
        "each event the feed delivered was received or reported in a gap"
        if ok
        else f"{len(missing)} missing without a gap, {len(extra)} not delivered by the feed",
        {
            "published": len(published),
            "received": len(delivered.ids),
            "gap_ranges": len(ranges),
            "missing": missing[:EVIDENCE],
            "extra": extra[:EVIDENCE],
        },
    )


def join_run(feed_jsonl: Path, history_dir: Path, *, strict_tail: bool) -> list[SubscriberJoin]:
    """Join every subscriber history file (``*.hist``) under ``history_dir`` with the feed's history.

    Slow subscribers (``slow-*``) still had unread events in their queue and socket when they stopped:
    their open windows end at the last id they saw (received or in a gap), whatever ``strict_tail`` says.
    """
    feed = load_feed_history(feed_jsonl)
    return [
        join_subscriber(
            path.stem,
            read_records(path),
            feed,
            strict_tail=strict_tail and not path.stem.startswith("slow-"),
        )
        for path in sorted(history_dir.rglob("*.hist"))
    ]
