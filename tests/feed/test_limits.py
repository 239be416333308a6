"""Client-side budgets: connection attempts, control-message pacing, REST weight with Retry-After blocks."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feed.binance_spot.rest_client import depth_weight
from feed.limits import AttemptBudget, MessagePacer, WeightBudget

# -- AttemptBudget ---------------------------------------------------------------------------------------


def test_attempts_allowed_until_limit_then_wait_for_oldest() -> None:
    budget = AttemptBudget(limit=3, window_s=300.0)
    for t in (0.0, 10.0, 20.0):
        assert budget.wait_s(t) == 0.0
        budget.record(t)
    assert budget.used(20.0) == 3
    assert budget.wait_s(20.0) == pytest.approx(280.0)  # the attempt at 0 leaves at 300
    assert budget.wait_s(299.0) == pytest.approx(1.0)
    assert budget.wait_s(300.0) == 0.0
    assert budget.used(300.0) == 2
    budget.record(300.0)
    assert budget.wait_s(300.0) == pytest.approx(10.0)  # now the attempt at 10 is the oldest


def test_attempt_budget_over_recorded_waits_for_enough_to_expire() -> None:
    budget = AttemptBudget(limit=2, window_s=10.0)
    for t in (0.0, 1.0, 2.0, 3.0):  # recorded despite the budget (e.g. shared by racing connections)
        budget.record(t)
    assert budget.wait_s(3.0) == pytest.approx(9.0)  # 0, 1 and 2 must all leave: 2 leaves at 12


@given(
    limit=st.integers(1, 20),
    window=st.floats(0.5, 100.0),
    gaps=st.lists(st.floats(0.0, 30.0), min_size=1, max_size=200),
)
def test_attempt_budget_obeyed_never_exceeds_limit_in_any_window(
    limit: int, window: float, gaps: list[float]
) -> None:
    """A caller that waits as told never has more than `limit` attempts in any window."""
    budget = AttemptBudget(limit=limit, window_s=window)
    now = 0.0
    attempts: list[float] = []
    for gap in gaps:
        now += gap
        while (wait := budget.wait_s(now)) > 0:  # a caller sleeps, then asks again
            now += wait
        budget.record(now)
        attempts.append(now)
    for i, start in enumerate(attempts):
        in_window = [t for t in attempts[i:] if t - start < window * (1 - 1e-9)]
        assert len(in_window) <= limit


def test_attempt_budget_validation() -> None:
    with pytest.raises(ValueError, match="limit"):
        AttemptBudget(limit=0)
    with pytest.raises(ValueError, match="window_s"):
        AttemptBudget(window_s=0.0)
    with pytest.raises(ValueError, match="now_s"):
        AttemptBudget().record(math.nan)


def test_venue_scale_budget_200_connections() -> None:
    """240 attempts per 5 minutes stays under Binance's 300 even if 200 connections all retry at once."""
    budget = AttemptBudget()
    sent: list[float] = []
    now = 0.0
    while len(sent) < 600:
        wait = budget.wait_s(now)
        if wait:
            now += wait
            continue
        budget.record(now)
        sent.append(now)
    assert max(sum(1 for t in sent if s <= t < s + 300.0) for s in sent) == 240


# -- MessagePacer ----------------------------------------------------------------------------------------


def test_pacer_allows_burst_then_spaces() -> None:
    pacer = MessagePacer(per_second=4.0)
    slots = [pacer.reserve(10.0) for _ in range(9)]
    assert slots == [10.0, 10.0, 10.0, 10.0, 11.0, 11.0, 11.0, 11.0, 12.0]


def test_pacer_later_request_goes_out_immediately() -> None:
    pacer = MessagePacer(per_second=4.0)
    for _ in range(4):
        pacer.reserve(0.0)
    assert pacer.reserve(5.0) == 5.0
    assert pacer.delay_s(5.5) == 0.0


def test_pacer_slot_never_before_earlier_slot() -> None:
    pacer = MessagePacer(per_second=2.0)
    assert pacer.reserve(0.0) == 0.0
    assert pacer.reserve(0.0) == 0.0
    assert pacer.reserve(0.2) == 1.0
    assert pacer.reserve(0.3) == 1.0  # second slot of that window, not earlier than the previous slot
    assert pacer.reserve(0.4) == 2.0


def test_pacer_fractional_and_slow_rates() -> None:
    assert MessagePacer(4.9).burst == 4
    slow = MessagePacer(per_second=0.5)
    assert [slow.reserve(0.0) for _ in range(3)] == [0.0, 2.0, 4.0]


def test_pacer_reset_and_validation() -> None:
    pacer = MessagePacer(per_second=1.0)
    pacer.reserve(0.0)
    assert pacer.reserve(0.0) == 1.0
    pacer.reset()
    assert pacer.reserve(0.0) == 0.0
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="per_second"):
            MessagePacer(bad)


@given(
    per_second=st.sampled_from([1.0, 2.0, 3.5, 4.0, 5.0]),
    requests=st.lists(st.floats(0.0, 3.0), min_size=1, max_size=100),
)
def test_pacer_no_one_second_window_exceeds_rate(per_second: float, requests: list[float]) -> None:
    pacer = MessagePacer(per_second=per_second)
    now = 0.0
    slots: list[float] = []
    for gap in requests:
        now += gap
        slot = pacer.reserve(now)
        assert slot >= now
        assert not slots or slot >= slots[-1]
        slots.append(slot)
    for start in slots:  # every window [start, start + 1) that begins at a message
        assert sum(1 for s in slots if start <= s < start + 1.0) <= per_second


# -- WeightBudget ----------------------------------------------------------------------------------------


def test_weight_fits_then_waits_for_expiry() -> None:
    budget = WeightBudget(limit_per_minute=100)
    assert budget.wait_s(50, 0.0) == 0.0
    budget.spend(50, 0.0)
    budget.spend(40, 10.0)
    assert budget.used(10.0) == 90
    assert budget.wait_s(10, 10.0) == 0.0
    assert budget.wait_s(11, 10.0) == pytest.approx(50.0)  # the 50 spent at 0 leaves at 60
    assert budget.wait_s(60, 10.0) == pytest.approx(50.0)
    assert budget.wait_s(61, 10.0) == pytest.approx(60.0)  # needs the 40 at 10 gone too
    assert budget.used(60.0) == 40
    assert budget.used(70.0) == 0


def test_wait_does_not_change_the_count() -> None:
    budget = WeightBudget(limit_per_minute=100)
    budget.spend(100, 0.0)
    budget.block_until(90.0)
    assert budget.wait_s(10, 1.0) == pytest.approx(89.0)
    assert budget.used(1.0) == 100  # asking about a future time must not forget current spends


def test_observed_header_is_adopted_when_larger() -> None:
    budget = WeightBudget(limit_per_minute=1000)
    budget.spend(50, 0.0)
    budget.observe_used(900, 1.0)  # someone else on this IP spent weight too
    assert budget.used(1.0) == 900
    assert budget.wait_s(101, 1.0) == pytest.approx(59.0)  # our 50 at 0 leaves at 60: 850 + 101 < 1000
    assert budget.wait_s(200, 1.0) == pytest.approx(60.0)  # needs the observed 850 gone (booked at 1)
    budget.observe_used(10, 2.0)  # smaller than our own count: ignored
    assert budget.used(2.0) == 900


def test_block_until_is_honoured_and_never_shortened() -> None:
    budget = WeightBudget(limit_per_minute=6000)
    budget.block_until(130.0)
    assert budget.blocked_until == 130.0
    assert budget.wait_s(1, 10.0) == pytest.approx(120.0)
    budget.block_until(50.0)  # an older, shorter Retry-After must not lift the block
    assert budget.blocked_until == 130.0
    assert budget.wait_s(1, 130.0) == 0.0
    assert budget.wait_s(1, 200.0) == 0.0


def test_block_and_window_combine() -> None:
    budget = WeightBudget(limit_per_minute=100)
    budget.spend(100, 0.0)
    budget.block_until(30.0)
    assert budget.wait_s(1, 0.0) == pytest.approx(60.0)  # the window is the later constraint
    budget.block_until(90.0)
    assert budget.wait_s(1, 0.0) == pytest.approx(90.0)  # now the block is


def test_weight_validation() -> None:
    budget = WeightBudget(limit_per_minute=100)
    with pytest.raises(ValueError, match="exceeds the whole budget"):
        budget.wait_s(101, 0.0)
    with pytest.raises(ValueError, match=">= 0"):
        budget.spend(-1, 0.0)
    with pytest.raises(ValueError, match="limit_per_minute"):
        WeightBudget(limit_per_minute=0)
    with pytest.raises(ValueError, match="until_s"):
        budget.block_until(math.nan)
    assert WeightBudget().blocked_until == -math.inf


@given(
    limit=st.integers(50, 6000),
    requests=st.lists(st.tuples(st.integers(0, 50), st.floats(0.0, 20.0)), min_size=1, max_size=200),
)
def test_weight_obeyed_never_exceeds_limit_in_any_minute(
    limit: int, requests: list[tuple[int, float]]
) -> None:
    budget = WeightBudget(limit_per_minute=limit)
    now = 0.0
    spent: list[tuple[float, int]] = []
    for weight, gap in requests:
        now += gap
        while (wait := budget.wait_s(weight, now)) > 0:
            now += wait
        budget.spend(weight, now)
        spent.append((now, weight))
    for start, _ in spent:
        assert sum(w for t, w in spent if start <= t < start + 60.0 * (1 - 1e-9)) <= limit


def test_depth_weights() -> None:
    assert [depth_weight(n) for n in (1, 100, 101, 500, 501, 1000, 1001, 5000)] == [
        5,
        5,
        25,
        25,
        50,
        50,
        250,
        250,
    ]
    for outside in (0, 5001):
        with pytest.raises(ValueError):
            depth_weight(outside)
