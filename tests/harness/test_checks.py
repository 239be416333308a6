"""Checkers on small hand-made histories: each passes on good input and fails with the right evidence."""

from __future__ import annotations

from types import SimpleNamespace

from harness.checks.books import check_books, check_not_crossed
from harness.checks.delivery import Delivered, Published, check_stream, delivered_streams
from harness.checks.isolation import check_isolation
from harness.checks.measures import check_dlq, check_latency, check_recovery, check_venue_limits
from harness.feed_history import FeedEventRow
from harness.rundata import FaultWindow, RunData, VenueRun
from mock_venues.base.history import VenueHistory


def by_check(verdicts: list) -> dict:  # type: ignore[type-arg]
    return {v.check.split(" [")[0]: v for v in verdicts}


def published(ids: list[int]) -> Published:
    return Published(ids=ids, intended_ns=[i * 1_000_000 for i in range(len(ids))])


def test_everything_delivered_passes() -> None:
    verdicts = check_stream("s", published([1, 2, 3, 4]), Delivered(ids=[1, 2, 3, 4]))
    assert all(v.ok for v in verdicts)


def test_loss_inside_a_reported_gap_is_not_a_failure_but_outside_it_is() -> None:
    ok = by_check(check_stream("s", published([1, 2, 3, 4, 5]), Delivered(ids=[1, 2, 5], gaps=[(3, 4)])))
    assert ok["no unreported loss"].ok
    fault = SimpleNamespace(name="ws:reset_peer", start_ns=1_000_000, end_ns=3_000_000)
    bad = by_check(check_stream("s", published([1, 2, 3, 4, 5]), Delivered(ids=[1, 2, 5]), faults=[fault]))
    lost = bad["no unreported loss"]
    assert not lost.ok and lost.evidence["lost"] == 2
    assert lost.evidence["first_lost"][0] == {"id": 3, "at_s": 0.002, "faults_active": ["ws:reset_peer"]}


def test_ids_before_the_feed_started_are_not_its_loss() -> None:
    assert by_check(check_stream("s", published([1, 2, 3, 4]), Delivered(ids=[3, 4])))[
        "no unreported loss"
    ].ok


def test_duplicates_order_and_false_gaps_are_caught() -> None:
    verdicts = by_check(check_stream("s", published([1, 2, 3]), Delivered(ids=[1, 3, 2, 3], gaps=[(2, 2)])))
    assert verdicts["no duplicate delivery"].evidence["duplicated_ids"] == [3]
    assert verdicts["in order"].evidence["first_out_of_order"] == [(3, 2)]
    assert not verdicts["gaps exact"].ok and verdicts["gaps exact"].evidence["wrong_gaps"] == [(2, 2)]


def test_delivered_streams_groups_by_venue_and_stream() -> None:
    events = [
        FeedEventRow(type="market", venue="v", stream="a", id=1),
        FeedEventRow(type="market", venue="v", stream="a", id=2, backfilled=True),
        FeedEventRow(type="gap", venue="v", stream="a", first_id=3, id=4),
        FeedEventRow(type="market", venue="w", stream="a", id=9),  # the same stream name on another venue
        FeedEventRow(type="connection", venue="v", stream="", id=None),
    ]
    got = delivered_streams(events)
    assert (
        got[("v", "a")].ids == [1, 2] and got[("v", "a")].backfilled == 1 and got[("v", "a")].gaps == [(3, 4)]
    )
    assert got[("w", "a")].ids == [9] and set(got) == {("v", "a"), ("w", "a")}


def test_books_compare_inside_the_snapshot_band_and_values_everywhere() -> None:
    truth = {"id": 9, "bids": [["10", "1"], ["9", "2"], ["1", "5"]], "asks": [["11", "1"]]}
    same_in_band = {"id": 9, "bids": [["10", "1.0"], ["9", "2"]], "asks": [["11", "1"]], "band": ["9", "11"]}
    assert check_books({"v:X": (truth, same_in_band)}).ok
    wrong = {"id": 9, "bids": [["10", "3"], ["9", "2"]], "asks": [["11", "1"]], "band": ["9", "11"]}
    verdict = check_books({"v:X": (truth, wrong)})
    assert not verdict.ok and verdict.evidence["differences"]["v:X"] == ["bids 10: feed 3 != venue 1"]
    stale = {**same_in_band, "id": 8}
    assert check_books({"v:X": (truth, stale)}).evidence["differences"]["v:X"] == ["book id 8 != venue 9"]
    assert not check_books({"v:X": (truth, None)}).ok


def test_a_crossed_book_fails_wherever_it_comes_from() -> None:
    good = {"id": 9, "bids": [["10", "1"], ["9", "2"]], "asks": [["11", "1"]]}
    bad = {"id": 9, "bids": [["61728.00", "1"]], "asks": [["61686.02", "1"], ["61800", "1"]]}
    assert check_not_crossed({"v:X": (good, good)}, {"v": []}).ok
    assert check_not_crossed({"v:X": (good, None)}, {}).ok  # a book not in sync is the other check's
    feed_copied = check_not_crossed({"v:X": (bad, bad)}, {})
    assert not feed_copied.ok and len(feed_copied.evidence["crossed"]) == 2
    assert "best bid 61728.00 >= best ask 61686.02" in feed_copied.summary
    assert not check_not_crossed({"v:X": (good, {**bad, "band": ["1", "99999"]})}, {}).ok
    equal = {"id": 1, "bids": [["10", "1"]], "asks": [["10", "1"]]}
    assert not check_not_crossed({"v:X": (good, equal)}, {}).ok
    during = check_not_crossed(
        {"v:X": (good, good)}, {"v": [{"symbol": "X", "id": 7, "bid": ["11", "1"], "ask": ["10", "1"]}]}
    )
    assert not during.ok and "crossed 1 time(s)" in during.summary and "first at id 7" in during.summary


def test_latency_recovery_dlq_limits() -> None:
    assert check_latency([1_000_000] * 99 + [50_000_000], p99_ms=2.0).ok
    assert not check_latency([1_000_000] * 90 + [50_000_000] * 10, p99_ms=2.0).ok
    assert not check_latency([], p99_ms=2.0).ok
    assert check_recovery(0, 2_000_000_000, bound_s=3).ok
    assert not check_recovery(0, 4_000_000_000, bound_s=3).ok and not check_recovery(0, None, bound_s=3).ok
    assert check_dlq({"a": 2}, [("a", b"x"), ("a", b"y")]).ok
    assert not check_dlq({"a": 2}, [("a", b"x")]).ok
    connects = [SimpleNamespace(event="connect", time_ns=i * 10**6, detail={}) for i in range(301)]
    assert not check_venue_limits(connects).ok
    assert check_venue_limits(connects[:300]).ok
    rest = [
        SimpleNamespace(event="rest", time_ns=i, detail={"weight": 3000, "status": 200}) for i in range(3)
    ]
    assert not check_venue_limits(rest).ok


def test_memory_slope_is_robust_to_spikes_and_catches_growth() -> None:
    from harness.checks.measures import check_memory, theil_sen_slope

    minute = 60_000_000_000
    flat = [(i * minute // 10, 100 * 2**20 + (50 * 2**20 if i % 7 == 0 else 0)) for i in range(60)]
    verdict = check_memory(flat, t0_ns=0, warmup_s=0, slope_mb_per_min=1.0, max_mb=1000)
    assert verdict.ok, verdict.summary  # one GC spike in seven samples does not make a slope
    growing = [(i * minute // 10, (100 + 3 * i / 10) * 2**20) for i in range(60)]  # +3 MB/min
    verdict = check_memory(growing, t0_ns=0, warmup_s=0, slope_mb_per_min=1.0, max_mb=1000)
    assert not verdict.ok and verdict.evidence["rss_slope_mb_per_min"] == 3.0
    assert theil_sen_slope([(0, 0), (1, 2), (2, 4), (3, 100), (4, 8), (5, 10), (6, 12)]) == 2.0
    too_few = check_memory(growing[:5], t0_ns=0, warmup_s=0, slope_mb_per_min=10.0, max_mb=1000)
    assert not too_few.ok and "only 5 RSS samples" in too_few.summary
    warm = check_memory(growing, t0_ns=0, warmup_s=600, slope_mb_per_min=10.0, max_mb=1000)
    assert not warm.ok  # nothing after a 10-minute warm-up in a 6-minute series


def test_buffer_high_water_against_capacity() -> None:
    from harness.checks.measures import check_buffer

    assert check_buffer(80, 100, fraction=0.9).ok
    full = check_buffer(100, 100, fraction=0.9)
    assert not full.ok and full.evidence == {"high_water": 100, "capacity": 100, "bound": 90.0}


def _venue_run(name: str, intended: list[int]) -> VenueRun:
    timeline = VenueHistory()
    for i, at in enumerate(intended):
        timeline.record_send(0, timeline.stream_id("s"), i, at, at, 0)
    return VenueRun(name, "binance-spot", ["s"], {"s": "s"}, set(), timeline, VenueHistory())


def test_isolation_fails_when_the_untouched_venue_noticed_or_starved() -> None:
    s = 1_000_000_000
    run = RunData(
        t0_ns=0,
        venues={"a": _venue_run("a", [1 * s, 2 * s, 3 * s]), "b": _venue_run("b", [1 * s, 2 * s, 3 * s])},
        events=[
            FeedEventRow(type="market", venue="a", stream="s", id=0, deliver_ns=int(1.1 * s)),
            FeedEventRow(type="market", venue="a", stream="s", id=1, deliver_ns=int(2.1 * s)),
        ],
        books={},
        stats={},
    )
    faults = [FaultWindow("b/ws-down", int(1.5 * s), int(2.5 * s), venue="b")]
    (ok,) = check_isolation(run, faults, primary="a")
    assert ok.ok and ok.check == "untouched by faults on other venues [a]"
    run.events.append(
        FeedEventRow(type="gap", venue="a", stream="s", first_id=2, id=2, deliver_ns=int(2.2 * s))
    )
    (noticed,) = check_isolation(run, faults, primary="a")
    assert not noticed.ok and noticed.evidence["problems"] == ["gap on s"]
    run.events = [run.events[0]]  # nothing of venue a delivered while b was down, though a published
    (starved,) = check_isolation(run, faults, primary="a")
    assert not starved.ok and starved.evidence["problems"] == ["nothing delivered during b/ws-down"]
    late = [FeedEventRow(type="stale", venue="a", stream="s", deliver_ns=10 * s)]  # the settle stall
    run.events = [
        *run.events,
        FeedEventRow(type="market", venue="a", stream="s", id=1, deliver_ns=2 * s),
        *late,
    ]
    assert check_isolation(run, faults, primary="a", until_ns=5 * s)[0].ok
    assert check_isolation(run, [*faults, FaultWindow("feed-killed", s, 2 * s, venue="*")], primary="a") == []
