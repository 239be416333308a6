"""Judge a finished run: every checker applied to its :class:`RunData`, plus the figures a report shows.

Bounds come from the SLA config (harness/sla.toml) unless the scenario sets its own. Pure: no I/O. Feed
events are read through their normalized fields only (docs/events.md); each venue's streams are joined
with what that venue published.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.checks.books import check_books, check_not_crossed
from harness.checks.delivery import (
    Delivered,
    KeyOf,
    Published,
    check_stream,
    delivered_streams,
    rebase_offset,
)
from harness.checks.expect import check_expectations
from harness.checks.isolation import check_isolation
from harness.checks.measures import (
    MIN_MEMORY_SAMPLES,
    check_buffer,
    check_dlq,
    check_latency,
    check_memory,
    check_recovery,
    check_venue_limits,
    latency_figures,
    memory_figures,
)
from harness.checks.verdict import Verdict
from harness.rundata import FaultWindow, LiveLatency, RunData, VenueRun
from harness.scenario import ALL_VENUES, Scenario
from harness.sla import SLAConfig
from mock_venues import registry as venue_registry
from mock_venues.base.history import SendFlag

MARKET = "market"


def evaluate(
    run: RunData,
    scenario: Scenario,
    sla: SLAConfig,
    faults: list[FaultWindow],
    healed: list[FaultWindow],
    *,
    judge_latency: bool = True,
) -> list[Verdict]:
    """Every verdict for one run. ``judge_latency=False`` leaves out the latency SLA verdicts (the figures
    are still measured): test suites run many stacks at once on shared cores, where a latency bound is a
    timed test that flakes; ``tickstorm run`` and ``tickstorm baseline`` judge it."""
    verdicts: list[Verdict] = []
    delivered = delivered_streams(run.events, history_keys(run))
    for venue in run.venues.values():
        offset = _exchange_offset(venue, delivered)
        for name in venue.streams:
            sent: list[int] = []
            published = Published(exchange_ns=[] if offset is not None else None, sent_ns=sent)
            replay_stream = venue.replay_of.get(name)
            if replay_stream is not None:
                for row in venue.timeline.rows(stream=replay_stream):
                    published.ids.append(row.venue_id)
                    published.intended_ns.append(row.intended_ns)
                    sent.append(row.actual_ns)
                    if published.exchange_ns is not None and offset is not None:
                        published.exchange_ns.append(row.intended_ns + offset)
            label = f"{venue.name}/{name}" if run.multi_venue else name
            verdicts += check_stream(
                label,
                published,
                delivered.get((venue.name, name)) or Delivered(),
                t0_ns=run.t0_ns,
                faults=faults,
                latest_value=name in venue.latest_value,
            )
    if run.books or run.books_without_truth:
        verdicts.append(check_books(run.books, unjudged=run.books_without_truth))
    crossings = {
        venue.name: [e.detail for e in venue.history.events if e.event == "book_crossed"]
        for venue in run.venues.values()
    }
    if run.books or any(crossings.values()):
        verdicts.append(check_not_crossed(run.books, crossings))
    for venue in run.venues.values():
        limits = check_venue_limits(venue.history.events)
        if run.multi_venue:
            limits = dataclasses.replace(limits, check=f"{limits.check} [{venue.name}]")
        verdicts.append(limits)
    if run.dead_letters is not None and (scenario.expect_dlq or run.stats.get("rejected")):
        corrupted: dict[str, int] = {}
        for venue in run.venues.values():
            for row in venue.history.rows():
                if row.flag == SendFlag.CORRUPTED:
                    key = f"{venue.name}/{row.stream}" if run.multi_venue else row.stream
                    corrupted[key] = corrupted.get(key, 0) + 1
        letters = [
            (f"{v}/{stream}" if run.multi_venue and stream else stream, raw)
            for v, stream, raw in run.dead_letters
        ]
        verdicts.append(check_dlq(corrupted, letters))
    verdicts += check_expectations(run.events, scenario.expect)
    primary = scenario.venue_specs()[0].instance
    if run.multi_venue:
        until = run.t0_ns + int(scenario.duration_s * 1e9)
        verdicts += check_isolation(run, faults, primary=primary, until_ns=until)
    level = sla.level_for(scenario.speed)
    recovery_s = scenario.sla.recovery_s or sla.recovery.data_flowing_s
    judged = judged_latencies(live_latencies(run), faults, primary=primary, grace_s=recovery_s)
    for kind in (sorted(judged) or ["all"]) if judge_latency else []:
        bounds = level.for_stream(kind)
        p99 = scenario.sla.latency_p99_ms if scenario.sla.latency_p99_ms is not None else bounds.p99_ms
        verdicts.append(
            check_latency(
                judged.get(kind, []),
                p50_ms=bounds.p50_ms,
                p99_ms=p99,
                p999_ms=bounds.p999_ms,
                name=f"latency outside faults [{kind}, {level.level}]",
            )
        )
    for window in healed:
        assert window.end_ns is not None
        # The venue the fault touched must deliver again (another venue's data proves nothing about it).
        faulted = window.venue or primary
        touched = None if faulted == ALL_VENUES else faulted
        verdicts.append(
            check_recovery(
                window.end_ns,
                _data_resumed(run, window.end_ns, touched),
                bound_s=recovery_s,
                what=f"data after {window.name}",
            )
        )
        invalidated, valid_ns = _books_valid_again(run, window, sla.recovery.book_valid_s)
        if invalidated:
            verdicts.append(
                check_recovery(
                    window.end_ns,
                    valid_ns,
                    bound_s=sla.recovery.book_valid_s,
                    what=f"books valid after {window.name}",
                )
            )
    if "buffer_high_water" in run.stats:
        verdicts.append(
            check_buffer(
                run.stats["buffer_high_water"],
                run.stats["buffer_capacity"],
                fraction=sla.buffer.high_water_fraction,
            )
        )
    if scenario.memory_check and run.rss:
        memory = check_memory(
            run.rss,
            t0_ns=run.t0_ns,
            warmup_s=sla.memory.warmup_s,
            slope_mb_per_min=scenario.sla.rss_slope_mb_per_min or sla.memory.rss_slope_mb_per_min,
            max_mb=sla.memory.rss_max_mb,
        )
        if run.allocation_growth:
            memory.evidence["top_allocation_growth"] = run.allocation_growth
        verdicts.append(memory)
    return verdicts


def figures(run: RunData, run_s: float, *, warmup_s: float = 0.0) -> dict[str, Any]:
    """The key figures of a run (delivery, gaps, resyncs, latency, memory, buffer); the RSS slope only
    counts samples after ``warmup_s`` (and is None when too few remain: start-up growth is not a slope)."""
    stats = run.stats
    lat = latency_figures([sample.latency_ns for sample in live_latencies(run)])
    out: dict[str, Any] = {
        "delivered": stats.get("delivered"),
        "gaps_lost_ids": stats.get("lost_ids"),
        "duplicates_dropped": stats.get("duplicates_dropped"),
        "resyncs": stats.get("resyncs"),
        "connects": stats.get("connects"),
        "rest_requests": stats.get("rest_requests"),
        "latency_p50_ms": lat.get("p50_ms"),
        "latency_p99_ms": lat.get("p99_ms"),
        "latency_max_ms": lat.get("max_ms"),
        "backfilled": sum(1 for e in run.events if _get(e, "backfilled")),
        "buffer_high_water": stats.get("buffer_high_water"),
        "restarts": run.restarts,
        "run_s": round(run_s, 2),
    }
    if run.rss:
        out |= memory_figures(run.rss, t0_ns=run.t0_ns, warmup_s=warmup_s)
        after = sum(1 for t, _ in run.rss if (t - run.t0_ns) / 1e9 >= warmup_s)
        if after < MIN_MEMORY_SAMPLES:
            out["rss_slope_mb_per_min"] = None
    return out


def live_latencies(run: RunData) -> list[LiveLatency]:
    """The latency sample (intended send, delivery minus intended send, stream kind, venue instance) of
    every live market event the venue published (backfilled events and ids the venue never published are
    left out). Computed once per run: the checks, the figures and the report measurements all read it."""
    if run.latencies is not None:
        return run.latencies
    intended: dict[tuple[str, str, int], int] = {}
    for venue in run.venues.values():
        for row in venue.timeline.rows():
            intended.setdefault((venue.name, row.stream, row.venue_id), row.intended_ns)
    key_of = history_keys(run)
    out = []
    for event in run.events:
        ident = _get(event, "id")
        if _get(event, "type") == MARKET and not _get(event, "backfilled") and ident is not None:
            name, stream = _get(event, "venue"), _get(event, "stream")
            key = key_of(name, stream, ident, _get(event, "data"))
            found = run.venues.get(name)
            replay = (found.replay_of.get(stream) if found is not None else None) or stream
            sent = intended.get((name, replay, key)) if key is not None else None
            if sent is not None:
                out.append(LiveLatency(sent, _get(event, "deliver_ns") - sent, _get(event, "kind"), name))
    run.latencies = out
    return out


def _get(event: Any, key: str) -> Any:
    return event.get(key) if isinstance(event, dict) else getattr(event, key, None)


def history_keys(run: RunData) -> KeyOf:
    """The join rule of each venue of the run: its mock venue's ``history_key`` (the venue is the oracle of
    its own keys), by venue instance; an instance the run does not know keeps the event's id."""
    rules: dict[str, Any] = {}
    for venue in run.venues.values():
        try:
            rules[venue.name] = venue_registry.venue_class(venue.adapter).history_key
        except venue_registry.UnknownVenue:
            continue

    def key_of(instance: str, stream: str, ident: int | None, data: Any) -> int | None:
        rule = rules.get(instance)
        return rule(stream, ident, data) if rule is not None else ident

    return key_of


def _exchange_offset(venue: VenueRun, delivered: dict[tuple[str, str], Delivered]) -> int | None:
    """Exchange time minus intended send time of the venue's published messages (see
    :func:`harness.checks.delivery.rebase_offset`), from the messages the feed delivered and the venue
    published under the same key; None when nothing joins (gaps by time then place no message) or the
    feed reported no gap by time on this venue."""
    if not any(d.time_gaps for (instance, _), d in delivered.items() if instance == venue.name):
        return None  # no gap by time to place messages in (the id join needs no exchange times)
    pairs: list[tuple[int, int]] = []
    for name in venue.streams:
        got = delivered.get((venue.name, name))
        replay_stream = venue.replay_of.get(name)
        if got is None or replay_stream is None or name in venue.latest_value:
            continue
        exchange = {k: t for k, t in zip(got.ids, got.exchange_ns, strict=True) if t is not None}
        for row in venue.timeline.rows(stream=replay_stream):
            at = exchange.get(row.venue_id)
            if at is not None:
                pairs.append((at, row.intended_ns))
    return rebase_offset(pairs)


def judged_latencies(
    samples: list[LiveLatency], faults: list[FaultWindow], *, primary: str, grace_s: float
) -> dict[str, list[int]]:
    """The latencies (ns) judged against the SLA, by stream kind: every sample whose way from intended send
    to delivery did not overlap a fault on its own venue (or ``grace_s`` after it)."""
    judged: dict[str, list[int]] = {}
    for sample in samples:
        own = [f for f in faults if _fault_touches(f, sample.venue, primary)]
        if not _touched(sample.sent_ns, sample.sent_ns + sample.latency_ns, own, grace_s):
            judged.setdefault(sample.kind, []).append(sample.latency_ns)
    return judged


def _fault_touches(fault: FaultWindow, venue: str, primary: str) -> bool:
    """Whether ``fault`` was on ``venue`` (a fault with no venue is on the primary; ``*`` on every venue).
    A fault on one venue leaves another venue's latency judged: isolation is what a multi-venue feed owes."""
    return fault.venue == ALL_VENUES or (fault.venue or primary) == venue


def _touched(sent_ns: int, delivered_ns: int, faults: list[FaultWindow], grace_s: float) -> bool:
    """Whether an event's way from intended send to delivery overlapped a fault (or ``grace_s`` after it):
    such events are measured and shown, but not judged against the steady-state SLA."""
    grace = int(grace_s * 1e9)
    return any(
        delivered_ns >= f.start_ns and (f.end_ns is None or sent_ns <= f.end_ns + grace) for f in faults
    )


def _data_resumed(run: RunData, after_ns: int, venue: str | None = None) -> int | None:
    """Delivery time of the first live market event (of ``venue``, if given) received after ``after_ns``."""
    for event in run.events:
        if (
            _get(event, "type") == MARKET
            and not _get(event, "backfilled")
            and _get(event, "recv_ns") > after_ns
            and (venue is None or _get(event, "venue") == venue)
        ):
            return int(_get(event, "deliver_ns"))
    return None


def _books_valid_again(run: RunData, window: FaultWindow, grace_s: float) -> tuple[bool, int | None]:
    """Whether a book went invalid during ``window`` (or within ``grace_s`` after it, e.g. on the
    reconnect that follows), and when every book was in sync again after the window ended (books are
    told apart by instrument)."""
    assert window.end_ns is not None
    until = window.end_ns + int(grace_s * 1e9)
    invalid: set[str] = set()
    invalidated = False
    for event in run.events:
        kind = _get(event, "type")
        if kind not in ("book_invalid", "book_resynced"):
            continue
        at = _get(event, "deliver_ns")
        instrument = _get(event, "instrument")
        if kind == "book_invalid":
            invalid.add(instrument)
            invalidated = invalidated or window.start_ns <= at <= until
        else:
            invalid.discard(instrument)
            if invalidated and at >= window.end_ns and not invalid:
                return True, int(at)
    if invalidated and not invalid:
        return True, window.end_ns  # every book was back in sync when the fault ended
    return invalidated, None
