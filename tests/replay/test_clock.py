"""ReplayClock: the schedule that maps recorded offsets to intended send times."""

from __future__ import annotations

import pytest

from mock_venues.replay.clock import ReplayClock


class FakeNow:
    def __init__(self) -> None:
        self.t = 1_000

    def __call__(self) -> int:
        return self.t


@pytest.mark.parametrize("speed", [0.0, 0.09, 100.1, -1, float("nan"), True, "2"])
def test_speed_outside_range_is_rejected(speed: object) -> None:
    with pytest.raises(ValueError, match="speed"):
        ReplayClock(speed)  # type: ignore[arg-type]


@pytest.mark.parametrize("speed", [0.1, 1, 2.5, 100])
def test_offsets_map_to_anchor_plus_offset_over_speed(speed: float) -> None:
    clock = ReplayClock(speed)
    clock.start(now_ns=5_000_000_000, first_offset_ns=2_000_000_000)
    assert clock.intended_ns(2_000_000_000) == 5_000_000_000
    assert clock.intended_ns(3_000_000_000) == 5_000_000_000 + int(1_000_000_000 / speed)


def test_speed_change_keeps_the_schedule_continuous() -> None:
    clock = ReplayClock(1.0)
    clock.start(now_ns=0, first_offset_ns=0)
    clock.set_speed(4.0, now_ns=1_000_000_000)  # one recorded second has passed
    assert clock.intended_ns(1_000_000_000) == 1_000_000_000
    assert clock.intended_ns(5_000_000_000) == 1_000_000_000 + 1_000_000_000
    clock.set_speed(0.5, now_ns=2_000_000_000)  # position: 1 s + 1 s * 4 = 5 s recorded
    assert clock.position_ns(2_000_000_000) == 5_000_000_000
    assert clock.intended_ns(6_000_000_000) == 2_000_000_000 + 2_000_000_000


def test_as_fast_as_possible_is_due_now_and_resumes_from_its_position() -> None:
    now = FakeNow()
    clock = ReplayClock(None, now=now)
    clock.start(now_ns=0, first_offset_ns=0)
    now.t = 777
    assert clock.intended_ns(9_000_000_000) == 777
    clock.set_speed(1.0, now_ns=1_000)
    assert clock.intended_ns(9_000_000_000) == 1_000
    assert clock.intended_ns(10_000_000_000) == 1_000 + 1_000_000_000


def test_speed_set_before_start_is_kept() -> None:
    clock = ReplayClock(1.0)
    clock.set_speed(10.0, now_ns=123)
    clock.start(now_ns=0, first_offset_ns=0)
    assert clock.speed == 10.0
    assert clock.intended_ns(1_000_000_000) == 100_000_000
