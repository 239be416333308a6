"""Staleness: thresholds from each stream's own rate, clamped; stale reported once; fresh again detected."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feed.staleness import StalenessTracker

MS = 1_000_000
S = 1_000_000_000


def feed_regular(tracker: StalenessTracker, stream: str, start_ns: int, gap_ns: int, count: int) -> int:
    """Send `count` messages `gap_ns` apart after watching at `start_ns`; return the last message time."""
    tracker.watch(stream, start_ns)
    now = start_ns
    for _ in range(count):
        now += gap_ns
        assert tracker.on_message(stream, now) is False
        assert tracker.check(now) == []
    return now


def test_never_a_message_is_stale_after_exactly_ceiling() -> None:
    tracker = StalenessTracker(ceiling_s=60.0)
    t0 = 5 * S
    tracker.watch("btcusdt@trade", t0)
    assert tracker.threshold_ns("btcusdt@trade") == 60 * S
    assert tracker.next_deadline_ns() == t0 + 60 * S
    assert tracker.check(t0 + 60 * S - 1) == []
    assert tracker.check(t0 + 60 * S) == ["btcusdt@trade"]
    assert tracker.stale() == {"btcusdt@trade"}
    assert tracker.next_deadline_ns() is None  # nothing fresh left to watch


def test_regular_100ms_rate_is_clamped_to_floor() -> None:
    tracker = StalenessTracker(factor=10.0, floor_s=1.0)
    last = feed_regular(tracker, "s", 0, 100 * MS, 20)
    assert tracker.threshold_ns("s") == 1 * S  # 10 x 100 ms = 1 s = floor
    assert tracker.check(last + S - 1) == []
    assert tracker.check(last + S) == ["s"]


def test_fast_stream_clamped_up_to_floor() -> None:
    tracker = StalenessTracker(factor=10.0, floor_s=1.0)
    last = feed_regular(tracker, "s", 0, 10 * MS, 50)
    assert tracker.threshold_ns("s") == S  # 100 ms derived, floor wins
    assert tracker.check(last + 500 * MS) == []


def test_threshold_follows_rate_between_floor_and_ceiling() -> None:
    tracker = StalenessTracker(factor=20.0, floor_s=1.0, ceiling_s=60.0)
    last = feed_regular(tracker, "s", 0, 100 * MS, 20)
    assert tracker.threshold_ns("s") == pytest.approx(2 * S, rel=1e-6)  # 20 x 100 ms
    assert tracker.check(last + 1900 * MS) == []
    assert tracker.check(last + 2000 * MS) == ["s"]


def test_quiet_market_is_not_stale() -> None:
    """A kline stream pushing every 2 s is not stale after 10 s of silence; a busy trade stream is."""
    tracker = StalenessTracker(factor=10.0, floor_s=1.0, ceiling_s=60.0)
    feed_regular(tracker, "kline", 0, 2 * S, 10)
    feed_regular(tracker, "trade", 0, 20 * MS, 1000)
    assert tracker.check(30 * S) == ["trade"]  # both last spoke at 20 s
    assert tracker.threshold_ns("kline") == pytest.approx(20 * S, rel=1e-6)
    assert tracker.check(39 * S) == []
    assert tracker.check(40 * S) == ["kline"]


def test_ceiling_until_warmup() -> None:
    tracker = StalenessTracker(factor=10.0, floor_s=1.0, ceiling_s=30.0, warmup=5)
    tracker.watch("s", 0)
    for i in range(1, 5):
        tracker.on_message("s", i * 100 * MS)
        assert tracker.threshold_ns("s") == 30 * S  # 4 gaps seen: still warming up
    tracker.on_message("s", 500 * MS)
    assert tracker.threshold_ns("s") == S


def test_reported_once_then_fresh_again_then_stale_again() -> None:
    tracker = StalenessTracker(ceiling_s=10.0)
    tracker.watch("a", 0)
    tracker.watch("b", 0)
    assert sorted(tracker.check(10 * S)) == ["a", "b"]
    assert tracker.check(11 * S) == []  # not reported twice
    assert tracker.is_stale("a")
    assert tracker.on_message("a", 12 * S) is True  # fresh again
    assert tracker.on_message("a", 12 * S + 1) is False
    assert tracker.stale() == {"b"}
    assert tracker.next_deadline_ns() == tracker.last_message_ns("a") + tracker.threshold_ns("a")
    assert tracker.check(12 * S + 1 + tracker.threshold_ns("a")) == ["a"]


def test_outage_does_not_blow_up_threshold() -> None:
    """A long silence feeds the EWMA at most the threshold in force, so one outage cannot jump to ceiling."""
    tracker = StalenessTracker(factor=10.0, floor_s=1.0, ceiling_s=60.0)
    last = feed_regular(tracker, "s", 0, 100 * MS, 50)
    assert tracker.check(last + 3600 * S) == ["s"]
    assert tracker.on_message("s", last + 3600 * S) is True
    assert tracker.threshold_ns("s") < 3 * S


def test_slowing_market_raises_threshold_gradually() -> None:
    tracker = StalenessTracker(factor=10.0, floor_s=1.0, ceiling_s=60.0)
    now = feed_regular(tracker, "s", 0, 100 * MS, 20)
    for _ in range(60):  # the market slows to one trade every 5 s; each trips the threshold at first
        now += 5 * S
        tracker.check(now)
        tracker.on_message("s", now)
    assert tracker.threshold_ns("s") == pytest.approx(50 * S, rel=0.05)
    assert tracker.check(now + 40 * S) == []


def test_watch_again_extends_deadline_keeps_history() -> None:
    tracker = StalenessTracker()
    last = feed_regular(tracker, "s", 0, 100 * MS, 10)
    threshold = tracker.threshold_ns("s")
    tracker.watch("s", last + 500 * MS)  # resubscribed
    assert tracker.threshold_ns("s") == threshold
    assert tracker.next_deadline_ns() == last + 500 * MS + threshold


def test_remove_and_unknown_streams() -> None:
    tracker = StalenessTracker(ceiling_s=5.0)
    assert tracker.next_deadline_ns() is None
    assert tracker.on_message("new", 1) is False  # an untracked stream starts being tracked
    assert "new" in tracker and len(tracker) == 1
    tracker.check(10 * S)
    assert tracker.stale() == {"new"}
    tracker.remove("new")
    tracker.remove("new")  # idempotent
    assert tracker.stale() == set() and "new" not in tracker
    assert tracker.check(100 * S) == []
    with pytest.raises(KeyError):
        tracker.threshold_ns("new")


def test_out_of_order_timestamp_ignored() -> None:
    tracker = StalenessTracker()
    tracker.watch("s", 10 * S)
    assert tracker.on_message("s", 9 * S) is False
    assert tracker.last_message_ns("s") == 10 * S


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"factor": 0.0}, "factor"),
        ({"floor_s": 0.0}, "floor_s"),
        ({"floor_s": 5.0, "ceiling_s": 4.0}, "ceiling_s"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"warmup": -1}, "warmup"),
    ],
)
def test_validation(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        StalenessTracker(**kwargs)  # type: ignore[arg-type]


# -- properties ------------------------------------------------------------------------------------------


@given(
    gap_ms=st.integers(1, 20_000),
    jitter=st.lists(st.floats(0.9, 1.1), min_size=30, max_size=80),
    factor=st.floats(2.0, 30.0),
)
def test_regular_rate_threshold_is_clamped_factor_times_gap(
    gap_ms: int, jitter: list[float], factor: float
) -> None:
    tracker = StalenessTracker(factor=factor, floor_s=1.0, ceiling_s=60.0)
    tracker.watch("s", 0)
    now = 0
    for j in jitter:
        now += int(gap_ms * MS * j)
        tracker.on_message("s", now)
    expected = min(60 * S, max(1 * S, factor * gap_ms * MS))
    assert tracker.threshold_ns("s") == pytest.approx(expected, rel=0.11)
    assert 1 * S <= tracker.threshold_ns("s") <= 60 * S


events = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(1, 3_000 * MS), st.booleans()), max_size=200
)


@given(events=events, floor_ms=st.integers(1, 500), ceiling_ms=st.integers(500, 5_000))
def test_stale_exactly_when_silent_for_threshold_and_reported_once(
    events: list[tuple[str, int, bool]], floor_ms: int, ceiling_ms: int
) -> None:
    """Against a model: check() reports a stream iff it is silent >= its threshold and not yet reported;
    on_message reports fresh-again exactly for reported streams; next_deadline_ns is exact."""
    tracker = StalenessTracker(factor=5.0, floor_s=floor_ms / 1000, ceiling_s=ceiling_ms / 1000, warmup=2)
    now = 0
    last: dict[str, int] = {}
    stale: set[str] = set()
    for stream, advance, is_message in events:
        deadline = tracker.next_deadline_ns()
        fresh = [s for s in last if s not in stale]
        if fresh:
            assert deadline == min(last[s] + tracker.threshold_ns(s) for s in fresh)
            assert deadline is not None and deadline > now
            assert tracker.check(deadline - 1) == []  # nothing is due before the deadline
        else:
            assert deadline is None
        now += advance
        expected = {s for s in last if s not in stale and now - last[s] >= tracker.threshold_ns(s)}
        reported = tracker.check(now)
        assert set(reported) == expected and len(reported) == len(expected)
        stale |= expected
        assert tracker.stale() == stale
        if is_message:
            came_back = tracker.on_message(stream, now)
            assert came_back == (stream in stale)
            stale.discard(stream)
            last[stream] = now
            assert tracker.floor_ns <= tracker.threshold_ns(stream) <= tracker.ceiling_ns
        elif stream not in last:
            tracker.watch(stream, now)
            last[stream] = now
