"""Delivery checks: joined on venue ids, per stream.

Inputs are plain data: what the venue published per stream (``Published``: history keys in publishing
order with their intended send times and, when known, exchange times) and the feed's delivered events,
each mapped to the venue's history key by the venue's own rule (``key``: the mock venue is the oracle;
default: the event's id). A published key counts as lost unless the feed delivered it, reported it inside
a gap's id range, or reported a gap by time (``detail.from_ns``..``detail.to_ns``, exchange time) that
its exchange time lies in; the feed is only accountable from the first message it handled on a stream (it
cannot deliver what was published before it subscribed).
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.checks.verdict import Verdict

EVIDENCE_IDS = 5


@dataclass
class Published:
    """One stream as the venue published it."""

    ids: list[int] = field(default_factory=list)
    intended_ns: list[int] = field(default_factory=list)
    exchange_ns: list[int] | None = None  # per id, when known (needed to place it in a gap by time)
    sent_ns: list[int] | None = None  # per id, when the venue actually sent (or dropped) it, when known


@dataclass
class Delivered:
    """One stream as the feed delivered it."""

    ids: list[int] = field(default_factory=list)  # the venue's history keys, in delivery order
    backfilled: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # reported (first_id, last_id) ranges
    time_gaps: list[tuple[int, int]] = field(default_factory=list)  # reported (from_ns, to_ns) windows
    exchange_ns: list[int | None] = field(default_factory=list)  # per delivered id


KeyOf = Callable[[str, str, "int | None", Any], "int | None"]
"""(venue instance, stream, event id, event data) -> the venue's history key (None: not joinable)."""


def _plain_key(venue: str, stream: str, ident: int | None, data: Any) -> int | None:
    return ident


def delivered_streams(events: Iterable[Any], key: KeyOf | None = None) -> dict[tuple[str, str], Delivered]:
    """Group feed events (objects with the event schema's fields) by (venue, stream), market events
    mapped to the venue's history keys by ``key`` (default: their id)."""
    key_of = key or _plain_key
    out: dict[tuple[str, str], Delivered] = {}
    for event in events:
        kind, stream = event.type, event.stream
        if not stream:
            continue
        at = (event.venue, stream)
        if kind == "gap":
            if event.id is None:  # a gap by time (docs/events.md): no ids, an exchange-time window
                out.setdefault(at, Delivered()).time_gaps.append(_time_window(event))
            else:
                out.setdefault(at, Delivered()).gaps.append((event.first_id, event.id))
        elif kind == "market" and event.id is not None:
            ident = key_of(event.venue, stream, event.id, getattr(event, "data", None))
            if ident is None:
                continue
            d = out.setdefault(at, Delivered())
            d.ids.append(ident)
            d.exchange_ns.append(event.exchange_ns)
            d.backfilled += bool(event.backfilled)
    return out


OPEN_END_NS = 2**63 - 1


def _time_window(event: Any) -> tuple[int, int]:
    """A gap by time: its exchange-time window ``(from_ns, to_ns)`` (an open start counts from 0, an open
    end, or a gap without either, to the end of time: it claims everything it may cover)."""
    detail = event.detail or {}
    start, end = detail.get("from_ns"), detail.get("to_ns")
    return int(start or 0), int(end) if end is not None else OPEN_END_NS


def _in_windows(at_ns: int | None, windows: list[tuple[int, int]]) -> bool:
    return at_ns is not None and any(low <= at_ns <= high for low, high in windows)


def rebase_offset(pairs: Iterable[tuple[int, int]]) -> int | None:
    """The venue's exchange time minus intended send time (monotonic), as most joined messages show it
    (``pairs``: (exchange ns the feed delivered, intended ns the venue published)); None without any.
    With the mock venues' ``rebase_times`` every message's exchange time is the wall time of its intended
    send, so the most common difference is exactly the venue's wall-minus-monotonic clock offset."""
    counts = Counter(exchange - intended for exchange, intended in pairs)
    return counts.most_common(1)[0][0] if counts else None


def _in_gaps(ident: int, starts: list[int], ranges: list[tuple[int, int]]) -> bool:
    i = bisect_right(starts, ident) - 1
    return i >= 0 and ranges[i][0] <= ident <= ranges[i][1]


def check_stream(
    stream: str,
    published: Published,
    delivered: Delivered,
    *,
    t0_ns: int = 0,
    faults: Sequence[Any] = (),
    latest_value: bool = False,
) -> list[Verdict]:
    """No unreported loss, no duplicate, in order, no gap claiming a delivered id (one stream).

    ``latest_value``: each message of the stream supersedes the last (quotes, bars; the venue says which),
    its ids skip, and a missed one is replaced by the next: loss is not defined, so only duplicates, order
    and gap exactness apply."""
    verdicts: list[Verdict] = []
    if latest_value:
        published = Published()
    seen = set(delivered.ids)
    ranges = sorted(delivered.gaps)
    starts = [r[0] for r in ranges]
    windows = sorted(delivered.time_gaps)
    handled_from = min([*delivered.ids[:1], *starts[:1]], default=None)
    exchange: list[int | None] = [None] * len(published.ids)
    if published.exchange_ns is not None:
        exchange = list(published.exchange_ns)
    ids = published.ids
    increasing = all(a < b for a, b in itertools.pairwise(ids))
    lost: list[tuple[int, int, int]] = []  # (id, intended send time, actual send time)
    sent = published.sent_ns if published.sent_ns is not None else published.intended_ns
    # Accountable from the first id handled (ids that increase as published, e.g. sequence ids), else from
    # the first published message the feed delivered or reported, in publishing order.
    accountable = False
    for ident, intended, at_ns, sent_ns in zip(ids, published.intended_ns, exchange, sent, strict=True):
        in_gap = _in_gaps(ident, starts, ranges) or _in_windows(at_ns, windows)
        accountable = accountable or ident in seen or in_gap
        if increasing:
            accountable = handled_from is not None and ident >= handled_from
        if not accountable:
            continue
        if ident not in seen and not in_gap:
            lost.append((ident, intended, sent_ns))
    evidence: dict[str, Any] = {"published": len(published.ids), "delivered": len(delivered.ids)}
    if lost:
        # Faults are matched to when the venue sent (or dropped) the message: a replay running late under
        # load sends a message due before a fault's call after it, and that fault is what lost it.
        evidence["first_lost"] = [
            {"id": i, "at_s": round((t - t0_ns) / 1e9, 3), "faults_active": _active(faults, sent_at)}
            for i, t, sent_at in lost[:EVIDENCE_IDS]
        ]
    verdicts.append(
        Verdict(
            f"no unreported loss [{stream}]",
            not lost,
            f"{len(lost)} published ids neither delivered nor reported in a gap"
            if lost
            else "every id accounted for",
            evidence
            | {
                "lost": len(lost),
                "reported_gaps": len(ranges) + len(windows),
                "time_gaps": len(windows),
                "backfilled": delivered.backfilled,
            },
        )
    )
    dups = [i for i, n in Counter(delivered.ids).items() if n > 1]
    verdicts.append(
        Verdict(
            f"no duplicate delivery [{stream}]",
            not dups,
            f"{len(dups)} ids delivered more than once" if dups else "each id delivered once",
            {"duplicated_ids": sorted(dups)[:EVIDENCE_IDS]},
        )
    )
    # In publishing order: ids that increase as published are compared directly (Binance's sequence ids);
    # keys that do not (e.g. per-exchange trade ids) by their position in what the venue published.
    if increasing:
        order = delivered.ids
    else:
        position = {ident: i for i, ident in enumerate(ids)}
        order = [position[i] for i in delivered.ids if i in position]
    backwards = [(a, b) for a, b in itertools.pairwise(order) if b <= a]
    if not increasing:
        backwards = [(ids[a], ids[b]) for a, b in backwards]
    verdicts.append(
        Verdict(
            f"in order [{stream}]",
            not backwards,
            f"{len(backwards)} deliveries went backwards"
            if backwards
            else ("ids strictly increasing" if increasing else "in the order the venue published"),
            {"first_out_of_order": backwards[:EVIDENCE_IDS]},
        )
    )
    false_gaps: list[tuple[int, int]] = [r for r in ranges if any(r[0] <= i <= r[1] for i in seen)]
    # A gap by time claims the messages strictly inside its window (its ends are the messages delivered
    # before the drop and after the reconnect); a message delivered strictly inside contradicts it.
    delivered_times = [t for t in delivered.exchange_ns if t is not None]
    false_gaps += [w for w in windows if any(w[0] < t < w[1] for t in delivered_times)]
    verdicts.append(
        Verdict(
            f"gaps exact [{stream}]",
            not false_gaps,
            f"{len(false_gaps)} reported gaps include delivered ids"
            if false_gaps
            else "reported gaps are exact",
            {"gaps": (ranges + windows)[:EVIDENCE_IDS], "wrong_gaps": false_gaps[:EVIDENCE_IDS]},
        )
    )
    return verdicts


def _active(faults: Sequence[Any], at_ns: int) -> list[str]:
    """Names of the faults (objects with start_ns, end_ns, name) active at ``at_ns``."""
    return [f.name for f in faults if f.start_ns <= at_ns and (f.end_ns is None or at_ns <= f.end_ns)]
