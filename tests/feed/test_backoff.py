"""Backoff: full jitter under an exponential, capped bound; reset only after a stable connection."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feed.backoff import Backoff


class MaxRandom(random.Random):
    """uniform(a, b) always returns b: exposes the bound."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_bounds_grow_exponentially_then_cap() -> None:
    backoff = Backoff(base_s=0.5, cap_s=5.0, factor=2.0, rng=MaxRandom())
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.attempts == 6


def test_full_jitter_spreads_over_whole_interval() -> None:
    backoff = Backoff(base_s=1.0, cap_s=1.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(2000)]
    assert all(0.0 <= d <= 1.0 for d in delays)
    assert min(delays) < 0.05 and max(delays) > 0.95  # full jitter, not "equal jitter" (>= half)
    assert 0.45 < sum(delays) / len(delays) < 0.55


def test_same_seed_same_delays() -> None:
    a = Backoff(rng=random.Random(42))
    b = Backoff(rng=random.Random(42))
    assert [a.next_delay() for _ in range(10)] == [b.next_delay() for _ in range(10)]


@given(
    base=st.floats(0.001, 10),
    extra=st.floats(0, 100),
    factor=st.floats(1, 10),
    attempts=st.integers(0, 5000),
    seed=st.integers(0, 2**32),
)
def test_delay_never_exceeds_cap_nor_overflows(
    base: float, extra: float, factor: float, attempts: int, seed: int
) -> None:
    cap = base + extra
    backoff = Backoff(base_s=base, cap_s=cap, factor=factor, rng=random.Random(seed), attempts=attempts)
    bound = backoff.ceiling()
    assert bound <= cap
    if attempts < 50:
        assert bound == pytest.approx(min(cap, base * factor**attempts))
    delay = backoff.next_delay()
    assert 0.0 <= delay <= cap and math.isfinite(delay)
    assert backoff.attempts == attempts + 1


def test_stable_connection_resets() -> None:
    backoff = Backoff(base_s=1.0, cap_s=60.0, stable_after_s=30.0, rng=MaxRandom())
    for _ in range(4):
        backoff.next_delay()
    backoff.connected(100.0)
    backoff.disconnected(130.0)  # up exactly stable_after_s
    assert backoff.attempts == 0
    assert backoff.next_delay() == 1.0


def test_flapping_connection_keeps_growing() -> None:
    backoff = Backoff(base_s=1.0, cap_s=60.0, stable_after_s=30.0, rng=MaxRandom())
    bounds = []
    now = 0.0
    for _ in range(5):
        bounds.append(backoff.next_delay())
        backoff.connected(now)
        now += 29.9  # never stable
        backoff.disconnected(now)
    assert bounds == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert backoff.attempts == 5


def test_disconnect_without_connect_does_not_reset() -> None:
    backoff = Backoff(rng=MaxRandom())
    backoff.next_delay()
    backoff.next_delay()
    backoff.disconnected(1_000_000.0)
    assert backoff.attempts == 2


def test_connected_time_is_forgotten_after_disconnect() -> None:
    backoff = Backoff(stable_after_s=10.0, rng=MaxRandom())
    backoff.connected(0.0)
    backoff.disconnected(1.0)
    backoff.next_delay()
    backoff.disconnected(100.0)  # a second disconnect must not use the old connect time
    assert backoff.attempts == 1


def test_retry_after_honours_server_wait() -> None:
    backoff = Backoff(base_s=0.5, cap_s=30.0, rng=MaxRandom())
    assert backoff.retry_after(120.0) == 120.0  # server wait beats our 0.5 s bound
    assert backoff.attempts == 1
    for _ in range(10):
        backoff.next_delay()
    assert backoff.retry_after(1.0) == 30.0  # our own bound beats a short server wait
    with pytest.raises(ValueError, match="retry_after"):
        backoff.retry_after(-1.0)
    with pytest.raises(ValueError, match="retry_after"):
        backoff.retry_after(math.nan)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base_s": 0.0}, "base_s"),
        ({"base_s": -1.0}, "base_s"),
        ({"base_s": math.inf}, "base_s"),
        ({"cap_s": 0.1}, "cap_s"),
        ({"cap_s": math.nan}, "cap_s"),
        ({"factor": 0.5}, "factor"),
        ({"stable_after_s": -1.0}, "stable_after_s"),
        ({"attempts": -1}, "attempts"),
    ],
)
def test_rejects_bad_values(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_reset() -> None:
    backoff = Backoff(rng=MaxRandom())
    backoff.next_delay()
    backoff.connected(5.0)
    backoff.reset()
    assert backoff.attempts == 0 and backoff.connected_at_s is None
