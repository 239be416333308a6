"""Venue isolation: a fault on one venue of a feed leaves its other venues untouched.

For every venue no fault of the run touched: none of its streams reported a gap, went stale or lost its
book; none of its connections dropped or failed; and while faults hit other venues it kept delivering
(at least one live market event inside each such fault window that it published data in). Pure.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any

from harness.checks.verdict import Verdict
from harness.rundata import FaultWindow, RunData

TROUBLE = ("gap", "stale", "book_invalid")
BAD_CONNECTION_STATES = ("disconnected", "connect_failed", "dead_peer", "throttled")
EVIDENCE = 5


def _venue_of(window: FaultWindow, primary: str) -> str:
    return window.venue or primary


def check_isolation(
    run: RunData, faults: list[FaultWindow], *, primary: str, until_ns: int | None = None
) -> list[Verdict]:
    """One verdict per venue that no fault touched (nothing to check when every venue was faulted).

    Only the scenario's own time counts (``until_ns``: its end); after it the harness stalls every venue
    to let the feed settle, and streams then go stale on purpose."""
    touched = {_venue_of(w, primary) for w in faults}
    if "*" in touched:
        return []
    verdicts = []
    for name, venue in run.venues.items():
        if name in touched:
            continue
        trouble: list[str] = []
        market_times: list[int] = []
        for event in run.events:
            if event.venue != name or (until_ns is not None and event.deliver_ns > until_ns):
                continue
            kind = event.type
            if kind in TROUBLE:
                trouble.append(f"{kind} on {event.stream or event.instrument}")
            elif kind == "connection":
                state = (event.detail or {}).get("state")
                if state in BAD_CONNECTION_STATES:
                    trouble.append(f"connection {state}")
            elif kind == "market" and not event.backfilled:
                market_times.append(event.deliver_ns)
        starved = []
        sent = sorted(row.intended_ns for row in venue.timeline.rows())
        market_times.sort()
        for window in faults:
            end = window.end_ns
            if end is None:
                continue
            published = bisect_right(sent, end) > bisect_left(sent, window.start_ns)
            delivered = bisect_right(market_times, end) > bisect_left(market_times, window.start_ns)
            if published and not delivered:
                starved.append(window.name)
        problems = trouble + [f"nothing delivered during {w}" for w in starved]
        evidence: dict[str, Any] = {
            "faults_elsewhere": sorted({w.name for w in faults}),
            "problems": problems[:EVIDENCE],
            "market_events": len(market_times),
        }
        verdicts.append(
            Verdict(
                f"untouched by faults on other venues [{name}]",
                not problems,
                f"{len(problems)} problem(s) while other venues were faulted"
                if problems
                else f"no gap, stale stream, book loss or drop; data flowed through {len(faults)} fault(s)",
                evidence,
            )
        )
    return verdicts
