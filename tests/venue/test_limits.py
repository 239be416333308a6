"""Rate limits: sliding windows, REST weight (429, then escalating 418 bans), connections, messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_venues.base.limits import (
    MAX_BAN_NS,
    MINUTE_NS,
    NS_PER_S,
    ConnectionAttemptLimiter,
    LimitDecision,
    MessageRateLimiter,
    SlidingWindowCounter,
    WeightLimiter,
)

S = NS_PER_S


# -- SlidingWindowCounter ------------------------------------------------------------------------------


def test_window_counts_and_expires_exactly_at_the_edge() -> None:
    counter = SlidingWindowCounter(10 * S)
    assert counter.add(0) == 1
    assert counter.add(5 * S, 3) == 4
    assert counter.total(10 * S - 1) == 4
    assert counter.total(10 * S) == 3  # the event at 0 is now exactly one window old
    assert counter.total(15 * S) == 0
    assert counter.add(15 * S, 0) == 0


def test_window_resolution_merges_close_events() -> None:
    counter = SlidingWindowCounter(10 * S, resolution_ns=S)
    for t in range(100):
        counter.add(t * 1_000_000)  # 100 events within 0.1 s
    assert counter.total(99_000_000) == 100
    assert len(counter) == 1


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_ns must be positive"):
        SlidingWindowCounter(0)


@given(st.lists(st.tuples(st.integers(0, 5_000), st.integers(0, 3)), max_size=60))
def test_window_matches_brute_force(steps: list[tuple[int, int]]) -> None:
    counter = SlidingWindowCounter(1_000)
    events: list[tuple[int, int]] = []
    now = 0
    for gap, n in steps:
        now += gap
        events.append((now, n))
        expected = sum(k for t, k in events if now - 1_000 < t <= now)
        assert counter.add(now, n) == expected


# -- WeightLimiter --------------------------------------------------------------------------------------


def test_under_the_limit_is_allowed_and_used_accumulates() -> None:
    limiter = WeightLimiter(limit=100)
    assert limiter.charge("1.1.1.1", 5, 0) == LimitDecision(True, 200, 5, None)
    assert limiter.charge("1.1.1.1", 95, S).used == 100
    assert limiter.charge("2.2.2.2", 7, S).used == 7  # per IP
    assert limiter.used("1.1.1.1", 2 * S) == 100


def test_window_is_fixed_per_minute_and_resets() -> None:
    limiter = WeightLimiter(limit=10)
    limiter.charge("ip", 10, 59 * S)
    assert limiter.used("ip", MINUTE_NS - 1) == 10
    assert limiter.used("ip", MINUTE_NS) == 0
    assert limiter.charge("ip", 10, MINUTE_NS + 1).allowed


def test_over_the_limit_answers_429_with_retry_after_to_the_window_end() -> None:
    limiter = WeightLimiter(limit=10)
    assert limiter.charge("ip", 10, 0).allowed
    over = limiter.charge("ip", 1, 45 * S + 200_000_000)  # 14.8 s left in the minute
    assert over == LimitDecision(False, 429, 11, 15)
    assert limiter.charge("ip2", 11, 59 * S + 999_000_000).retry_after_s == 1  # never 0


def test_sending_after_a_429_gets_a_418_ban_of_two_minutes() -> None:
    limiter = WeightLimiter(limit=10)
    limiter.charge("ip", 11, 0)
    ban = limiter.charge("ip", 1, 10 * S)
    assert ban.status == 418 and not ban.allowed
    assert ban.retry_after_s == 120
    assert limiter.banned_until_ns("ip") == 130 * S
    later = limiter.charge("ip", 1, 70 * S)  # still banned in the next window, not charged
    assert later == LimitDecision(False, 418, 0, 60)
    assert limiter.charge("other", 1, 10 * S).allowed  # other IPs are not affected


def test_after_the_ban_the_ip_starts_fresh() -> None:
    limiter = WeightLimiter(limit=10)
    limiter.charge("ip", 11, 0)
    limiter.charge("ip", 1, S)  # banned until 121 s
    assert limiter.charge("ip", 1, 121 * S) == LimitDecision(True, 200, 1, None)


def test_bans_escalate_for_repeat_offenders_up_to_three_days() -> None:
    limiter = WeightLimiter(limit=10)
    lengths = []
    now = 0
    for _ in range(14):
        limiter.charge("ip", 11, now)
        ban = limiter.charge("ip", 1, now + 1)
        assert ban.status == 418 and ban.retry_after_s is not None
        lengths.append(ban.retry_after_s)
        now = limiter.banned_until_ns("ip") + MINUTE_NS  # wait it out, then offend again
    minutes = [s // 60 for s in lengths]
    assert minutes[:5] == [2, 4, 8, 16, 32]
    assert minutes[-1] == MAX_BAN_NS // MINUTE_NS == 3 * 24 * 60
    assert minutes == sorted(minutes)


@pytest.mark.parametrize(("scale", "first_ban_s"), [(0.5, 60), (0.01, 2), (0.0001, 1)])
def test_ban_scale_compresses_bans_but_keeps_at_least_a_second(scale: float, first_ban_s: int) -> None:
    limiter = WeightLimiter(limit=10, ban_scale=scale)
    limiter.charge("ip", 11, 0)
    ban = limiter.charge("ip", 1, 1)
    assert ban.status == 418 and ban.retry_after_s == first_ban_s
    assert limiter.ban_ns(0) == max(S, int(120 * S * scale))


def test_a_compressed_ban_ending_inside_the_window_does_not_rebann_at_once() -> None:
    limiter = WeightLimiter(limit=10, ban_scale=0.001)
    limiter.charge("ip", 11, 0)
    assert limiter.charge("ip", 1, S).status == 418  # ban of 1 s
    assert limiter.charge("ip", 1, 2 * S).allowed  # same minute, but the ban is over: fresh start


def test_grace_allows_more_429s_before_the_ban() -> None:
    limiter = WeightLimiter(limit=10, grace=2)
    limiter.charge("ip", 10, 0)
    assert [limiter.charge("ip", 1, t).status for t in (1, 2, 3, 4)] == [429, 429, 429, 418]


def test_forget_drops_idle_ips_but_keeps_offenders() -> None:
    limiter = WeightLimiter(limit=10)
    limiter.charge("idle", 1, 0)
    limiter.charge("bad", 11, 0)
    limiter.charge("bad", 1, 1)
    assert limiter.forget(10 * MINUTE_NS) == 1
    assert limiter.banned_until_ns("bad") > 0


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 1, "ban_scale": 0}, {"limit": 1, "window_ns": 0}])
def test_weight_limiter_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        WeightLimiter(**kwargs)  # type: ignore[arg-type]


# -- connection attempts and messages ------------------------------------------------------------------


def test_connection_attempts_per_peer_in_a_sliding_window() -> None:
    limiter = ConnectionAttemptLimiter(limit=3, window_ns=10 * S)
    assert [limiter.hit("a", t * S) for t in range(4)] == [True, True, True, False]
    assert limiter.hit("b", 3 * S)  # another peer
    assert not limiter.hit("a", 10 * S)  # attempts at 1..3 s (and the refused one) still in the window
    assert limiter.hit("a", 30 * S)


def test_refused_attempts_count_too() -> None:
    limiter = ConnectionAttemptLimiter(limit=2, window_ns=10 * S)
    assert limiter.hit("a", 0) and limiter.hit("a", S)
    assert not limiter.hit("a", 9 * S)
    # window (0.5 s, 10.5 s]: 1 s, the refused 9 s and this one; without the refused one it would pass
    assert not limiter.hit("a", 10 * S + S // 2)
    assert limiter.hit("a", 25 * S)


def test_binance_default_300_per_5_minutes() -> None:
    limiter = ConnectionAttemptLimiter(limit=300, window_ns=300 * S)
    assert all(limiter.hit("ip", i * 1_000_000) for i in range(300))
    assert not limiter.hit("ip", 300_000_000)


def test_message_rate_five_per_second() -> None:
    limiter = MessageRateLimiter(5)
    assert all(limiter.hit(i * 100_000_000) for i in range(5))  # 0.0 .. 0.4 s
    assert not limiter.hit(500_000_000)


def test_message_rate_is_a_sliding_window() -> None:
    limiter = MessageRateLimiter(5)
    for i in range(5):
        assert limiter.hit(i * 200_000_000)  # 0.0, 0.2, 0.4, 0.6, 0.8 s
    assert limiter.hit(S)  # the message at 0.0 s left the window
    assert not limiter.hit(S + 100_000_000)


def test_message_limiter_rejects_zero() -> None:
    with pytest.raises(ValueError):
        MessageRateLimiter(0)


def test_idle_ips_are_pruned_as_requests_flow() -> None:
    limiter = WeightLimiter(limit=10_000)
    limiter.charge("once", 1, 0)
    for i in range(4096):
        limiter.charge("busy", 0, 2 * MINUTE_NS + i)
    assert "once" not in limiter._ips and "busy" in limiter._ips
