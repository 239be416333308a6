"""Delivery checks: joined on venue ids, per stream.

Inputs are plain data: what the venue published per stream (``Published``: ids in publishing order with
their intended send times) and the feed's delivered events. A published id counts as lost unless the feed
delivered it or reported it inside a gap's id range; the feed is only accountable from the first id it
handled on a stream (it cannot deliver what was published before it subscribed).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.checks.verdict import Verdict

EVIDENCE_IDS = 5


@dataclass
class Published:
    """One stream as the venue published it."""

    ids: list[int] = field(default_factory=list)
    intended_ns: list[int] = field(default_factory=list)


@dataclass
class Delivered:
    """One stream as the feed delivered it."""

    ids: list[int] = field(default_factory=list)
    backfilled: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # reported (first_id, last_id) ranges


def delivered_streams(events: Iterable[Any]) -> dict[tuple[str, str], Delivered]:
    """Group feed events (objects with the event schema's fields) by (venue, stream)."""
    out: dict[tuple[str, str], Delivered] = {}
    for event in events:
        kind, stream = event.type, event.stream
        if not stream:
            continue
        key = (event.venue, stream)
        if kind == "gap":
            out.setdefault(key, Delivered()).gaps.append((event.first_id, event.id))
        elif kind == "market" and event.id is not None:
            d = out.setdefault(key, Delivered())
            d.ids.append(event.id)
            d.backfilled += bool(event.backfilled)
    return out


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
    handled_from = min([*delivered.ids[:1], *starts[:1]], default=None)
    lost: list[tuple[int, int]] = []
    if handled_from is not None:
        for ident, intended in zip(published.ids, published.intended_ns, strict=True):
            if ident >= handled_from and ident not in seen and not _in_gaps(ident, starts, ranges):
                lost.append((ident, intended))
    evidence: dict[str, Any] = {"published": len(published.ids), "delivered": len(delivered.ids)}
    if lost:
        evidence["first_lost"] = [
            {"id": i, "at_s": round((t - t0_ns) / 1e9, 3), "faults_active": _active(faults, t)}
            for i, t in lost[:EVIDENCE_IDS]
        ]
    verdicts.append(
        Verdict(
            f"no unreported loss [{stream}]",
            not lost,
            f"{len(lost)} published ids neither delivered nor reported in a gap"
            if lost
            else "every id accounted for",
            evidence | {"lost": len(lost), "reported_gaps": len(ranges), "backfilled": delivered.backfilled},
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
    backwards = [(a, b) for a, b in zip(delivered.ids, delivered.ids[1:], strict=False) if b <= a]
    verdicts.append(
        Verdict(
            f"in order [{stream}]",
            not backwards,
            f"{len(backwards)} deliveries went backwards" if backwards else "ids strictly increasing",
            {"first_out_of_order": backwards[:EVIDENCE_IDS]},
        )
    )
    false_gaps = [r for r in ranges if any(r[0] <= i <= r[1] for i in seen)]
    verdicts.append(
        Verdict(
            f"gaps exact [{stream}]",
            not false_gaps,
            f"{len(false_gaps)} reported gaps include delivered ids"
            if false_gaps
            else "reported gaps are exact",
            {"gaps": ranges[:EVIDENCE_IDS], "wrong_gaps": false_gaps[:EVIDENCE_IDS]},
        )
    )
    return verdicts


def _active(faults: Sequence[Any], at_ns: int) -> list[str]:
    """Names of the faults (objects with start_ns, end_ns, name) active at ``at_ns``."""
    return [f.name for f in faults if f.start_ns <= at_ns and (f.end_ns is None or at_ns <= f.end_ns)]
