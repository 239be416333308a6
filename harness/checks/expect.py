"""Expectations a scenario states about the feed's events: "events like these were delivered (at least /
at most so many)". Venue-neutral: events are matched on their normalized fields only (docs/events.md:
type, venue, channel, stream, backfilled and a subset of ``detail``). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.checks.verdict import Verdict


@dataclass(frozen=True)
class Expect:
    """Events matching every given field were delivered between ``at_least`` and ``at_most`` times.

    ``stream`` matches a stream name or, ending in ``.``/``*``, its prefix (``"trades."``); ``detail``
    matches a subset of the event's detail (``{"state": "login_failed", "code": 402}``)."""

    what: str  # the expectation in words, the check's name
    type: str = "market"
    venue: str | None = None
    channel: str | None = None
    stream: str | None = None
    backfilled: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at_least: int = 1
    at_most: int | None = None

    def matches(self, event: Any) -> bool:
        """Whether one event (an object with the event schema's fields) is one of these."""
        if _get(event, "type") != self.type:
            return False
        if self.venue is not None and _get(event, "venue") != self.venue:
            return False
        if self.channel is not None and _get(event, "channel") != self.channel:
            return False
        if self.stream is not None and not _stream_matches(self.stream, _get(event, "stream") or ""):
            return False
        if self.backfilled is not None and bool(_get(event, "backfilled")) != self.backfilled:
            return False
        detail = _get(event, "detail") or {}
        return all(detail.get(k) == v for k, v in self.detail.items())


def _get(event: Any, key: str) -> Any:
    return event.get(key) if isinstance(event, dict) else getattr(event, key, None)


def _stream_matches(pattern: str, stream: str) -> bool:
    if pattern.endswith("*"):
        return stream.startswith(pattern[:-1])
    if pattern.endswith("."):
        return stream.startswith(pattern)
    return stream == pattern


def check_expectations(events: Iterable[Any], expectations: Iterable[Expect]) -> list[Verdict]:
    """One verdict per expectation: how many events matched, against its bounds."""
    wanted = list(expectations)
    counts = [0] * len(wanted)
    for event in events:
        for i, expect in enumerate(wanted):
            if expect.matches(event):
                counts[i] += 1
    verdicts = []
    for expect, count in zip(wanted, counts, strict=True):
        ok = count >= expect.at_least and (expect.at_most is None or count <= expect.at_most)
        bound = f">= {expect.at_least}" + (f", <= {expect.at_most}" if expect.at_most is not None else "")
        verdicts.append(
            Verdict(
                f"expected: {expect.what}",
                ok,
                f"{count} matching events (wanted {bound})",
                {"matched": count, "at_least": expect.at_least, "at_most": expect.at_most},
            )
        )
    return verdicts
