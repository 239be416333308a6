"""Bounded buffer: FIFO order, explicit overflow policy, every drop returned and counted."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feed.buffer import BoundedBuffer, OverflowPolicy


def test_fifo_order_and_protocols() -> None:
    buf: BoundedBuffer[int] = BoundedBuffer(3)
    assert not buf and len(buf) == 0 and buf.peek() is None
    for i in (1, 2):
        assert buf.push(i) is None
    assert buf and len(buf) == 2 and list(buf) == [1, 2] and buf.peek() == 1
    assert buf.popleft() == 1
    assert buf.drain() == [2]
    assert not buf and buf.drain() == []
    assert buf.dropped == 0 and buf.high_water == 2


def test_drop_oldest_returns_evicted_item() -> None:
    buf: BoundedBuffer[str] = BoundedBuffer(2, OverflowPolicy.DROP_OLDEST)
    assert buf.push("a") is None
    assert buf.push("b") is None
    assert buf.full
    assert buf.push("c") == "a"
    assert buf.push("d") == "b"
    assert list(buf) == ["c", "d"]
    assert buf.dropped == 2 and buf.high_water == 2


def test_drop_newest_returns_pushed_item() -> None:
    buf: BoundedBuffer[str] = BoundedBuffer(2, OverflowPolicy.DROP_NEWEST)
    buf.push("a")
    buf.push("b")
    assert buf.push("c") == "c"
    assert list(buf) == ["a", "b"]
    assert buf.dropped == 1
    assert buf.popleft() == "a"
    assert buf.push("d") is None
    assert buf.drain() == ["b", "d"]


def test_policy_accepts_config_string() -> None:
    buf: BoundedBuffer[int] = BoundedBuffer(1, "drop_newest")  # type: ignore[arg-type]
    assert buf.policy is OverflowPolicy.DROP_NEWEST
    assert OverflowPolicy("drop_oldest") is OverflowPolicy.DROP_OLDEST
    assert OverflowPolicy.DROP_OLDEST == "drop_oldest"  # a str enum: the config spelling


def test_errors_and_clear() -> None:
    with pytest.raises(ValueError, match="capacity"):
        BoundedBuffer(0)
    buf: BoundedBuffer[int] = BoundedBuffer(2)
    with pytest.raises(IndexError):
        buf.popleft()
    buf.push(1)
    buf.push(2)
    buf.push(3)
    assert buf.clear() == 2
    assert not buf and buf.dropped == 1 and buf.high_water == 2
    assert "dropped=1" in repr(buf)


def test_push_is_constant_time_at_scale() -> None:
    buf: BoundedBuffer[int] = BoundedBuffer(1000)
    for i in range(200_000):
        buf.push(i)
    assert buf.dropped == 199_000 and buf.peek() == 199_000


operations = st.lists(st.one_of(st.integers(0, 1000), st.just("pop"), st.just("drain")), max_size=300)


@given(capacity=st.integers(1, 20), policy=st.sampled_from(list(OverflowPolicy)), ops=operations)
def test_matches_model_and_accounts_for_every_item(
    capacity: int, policy: OverflowPolicy, ops: list[int | str]
) -> None:
    """Every pushed item is still buffered, popped/drained, or returned as dropped: nothing vanishes."""
    buf: BoundedBuffer[int] = BoundedBuffer(capacity, policy)
    model: deque[int] = deque()
    pushed: list[int] = []
    out: list[int] = []
    dropped: list[int] = []
    high = 0
    for n, op in enumerate(ops):
        if op == "pop":
            if model:
                expected = model.popleft()
                got = buf.popleft()
                assert got == expected
                out.append(got)
        elif op == "drain":
            drained = buf.drain()
            assert drained == list(model)
            out.extend(drained)
            model.clear()
        else:
            item = n * 10_000 + int(op)  # unique
            pushed.append(item)
            victim = buf.push(item)
            if len(model) == capacity:
                expected_victim = item if policy is OverflowPolicy.DROP_NEWEST else model.popleft()
                assert victim == expected_victim
                if policy is OverflowPolicy.DROP_OLDEST:
                    model.append(item)
                dropped.append(expected_victim)
            else:
                assert victim is None
                model.append(item)
        high = max(high, len(model))
        assert len(buf) <= capacity
        assert list(buf) == list(model)
    assert buf.dropped == len(dropped)
    assert buf.high_water == high
    assert sorted(out + dropped + list(buf)) == sorted(pushed)
    kept_order = [x for x in pushed if x not in set(dropped)]
    assert out + list(buf) == kept_order  # FIFO among the survivors
