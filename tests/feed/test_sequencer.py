"""Id sequencer: exactly-once in-order delivery, reorders healed, holes backfilled or reported as lost."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feed.sequencer import Deliver, Duplicate, IdSequencer, Lost, Missing, Output

MS = 1_000_000
W = 50 * MS  # default hold window


def ids_of(outputs: list[Output[str]]) -> list[int]:
    return [o.id for o in outputs if isinstance(o, Deliver)]


def offer_all(seq: IdSequencer[str], ids: list[int], now_ns: int = 0) -> list[Output[str]]:
    out: list[Output[str]] = []
    for i in ids:
        out += seq.offer(i, f"v{i}", now_ns)
    return out


# -- basics ----------------------------------------------------------------------------------------------


def test_in_order_delivery() -> None:
    seq: IdSequencer[str] = IdSequencer()
    assert seq.last_id is None
    out = offer_all(seq, [100, 101, 102])
    assert out == [Deliver(100, "v100"), Deliver(101, "v101"), Deliver(102, "v102")]
    assert seq.last_id == 102 and seq.held == 0 and seq.next_deadline_ns() is None


def test_duplicates_of_delivered_and_held() -> None:
    seq: IdSequencer[str] = IdSequencer()
    offer_all(seq, [1, 2])
    assert seq.offer(2, "again", 0) == [Duplicate(2)]
    assert seq.offer(1, "again", 0) == [Duplicate(1)]
    assert seq.offer(5, "v5", 0) == []  # held
    assert seq.offer(5, "v5-dup", 1) == [Duplicate(5)]
    out = offer_all(seq, [3, 4])
    assert out == [Deliver(3, "v3"), Deliver(4, "v4"), Deliver(5, "v5")]  # the first copy of 5 wins


def test_short_reorder_heals_itself() -> None:
    seq: IdSequencer[str] = IdSequencer()
    seq.offer(1, "v1", 0)
    assert seq.offer(3, "v3", 1 * MS) == []
    assert seq.offer(4, "v4", 2 * MS) == []
    assert seq.held == 2 and seq.first_held_id() == 3
    assert seq.next_deadline_ns() == 1 * MS + W
    assert seq.offer(2, "v2", 10 * MS) == [Deliver(2, "v2"), Deliver(3, "v3"), Deliver(4, "v4")]
    assert seq.tick(10 * W) == []
    assert seq.next_deadline_ns() is None


def test_hole_without_backfill_becomes_lost_after_window() -> None:
    seq: IdSequencer[str] = IdSequencer(backfill=False)
    offer_all(seq, [1, 2])
    assert seq.offer(5, "v5", 0) == []
    assert seq.offer(6, "v6", 10 * MS) == []
    assert seq.tick(W - 1) == []
    assert seq.tick(W) == [Lost(3, 4), Deliver(5, "v5"), Deliver(6, "v6")]
    assert seq.last_id == 6
    assert seq.offer(3, "late", W + 1) == [Duplicate(3)]  # too late: already reported lost


def test_later_holes_wait_their_own_window() -> None:
    seq: IdSequencer[str] = IdSequencer(backfill=False)
    seq.offer(1, "v1", 0)
    seq.offer(3, "v3", 0)
    seq.offer(6, "v6", 30 * MS)
    assert seq.tick(W) == [Lost(2, 2), Deliver(3, "v3")]  # 6 has waited only 20 ms
    assert seq.next_deadline_ns() == 30 * MS + W
    assert seq.tick(30 * MS + W) == [Lost(4, 5), Deliver(6, "v6")]


def test_expired_holes_are_all_released_in_one_tick() -> None:
    seq: IdSequencer[str] = IdSequencer(backfill=False)
    seq.offer(1, "v1", 0)
    seq.offer(4, "v4", 0)
    seq.offer(7, "v7", 1)
    assert seq.tick(10 * W) == [Lost(2, 3), Deliver(4, "v4"), Lost(5, 6), Deliver(7, "v7")]


def test_offer_also_ticks() -> None:
    seq: IdSequencer[str] = IdSequencer(backfill=False)
    seq.offer(1, "v1", 0)
    seq.offer(3, "v3", 0)
    assert seq.offer(10, "v10", W) == [Lost(2, 2), Deliver(3, "v3")]  # 10 just arrived: still held
    assert seq.held == 1


def test_zero_window_reports_at_once() -> None:
    seq: IdSequencer[str] = IdSequencer(hold_window_ns=0, backfill=False)
    seq.offer(1, "v1", 0)
    assert seq.offer(3, "v3", 0) == [Lost(2, 2), Deliver(3, "v3")]


# -- backfill --------------------------------------------------------------------------------------------


def test_missing_emitted_once_and_live_items_held() -> None:
    seq: IdSequencer[str] = IdSequencer(backfill=True)
    seq.offer(10, "v10", 0)
    seq.offer(15, "v15", 0)
    assert seq.tick(W) == [Missing(11, 14)]
    assert seq.waiting == Missing(11, 14)
    assert seq.next_deadline_ns() is None  # waiting for the caller, not for time
    assert seq.tick(100 * W) == []  # once
    assert seq.offer(16, "v16", 100 * W) == []  # live items keep being held
    assert seq.offer(18, "v18", 100 * W) == []
    assert seq.held == 3


def test_fill_delivers_backfilled_then_held_live() -> None:
    seq: IdSequencer[str] = IdSequencer()
    seq.offer(10, "v10", 0)
    offer_all(seq, [15, 16])
    [missing] = seq.tick(W)
    assert isinstance(missing, Missing)
    backfill = [
        (13, "b13"),
        (11, "b11"),
        (14, "b14"),
        (12, "b12"),
        (11, "b11"),
        (9, "old"),
        (15, "b15"),
        (99, "x"),
    ]
    out = seq.fill(backfill)
    assert out == [
        Deliver(11, "b11", backfilled=True),
        Deliver(12, "b12", backfilled=True),
        Deliver(13, "b13", backfilled=True),
        Deliver(14, "b14", backfilled=True),
        Deliver(15, "v15"),  # the live item, not the backfilled copy
        Deliver(16, "v16"),
    ]
    assert seq.waiting is None and seq.last_id == 16 and seq.held == 0
    assert seq.fill([(17, "b17")]) == []  # nothing is waiting


def test_partial_fill_reports_the_rest_lost() -> None:
    seq: IdSequencer[str] = IdSequencer()
    seq.offer(10, "v10", 0)
    seq.offer(20, "v20", 0)
    assert seq.tick(W) == [Missing(11, 19)]
    out = seq.fill([(11, "b11"), (12, "b12"), (15, "b15")])
    assert out == [
        Deliver(11, "b11", backfilled=True),
        Deliver(12, "b12", backfilled=True),
        Lost(13, 14),
        Deliver(15, "b15", backfilled=True),
        Lost(16, 19),
        Deliver(20, "v20"),
    ]


def test_abandon_reports_hole_lost_then_releases() -> None:
    seq: IdSequencer[str] = IdSequencer()
    seq.offer(1, "v1", 0)
    offer_all(seq, [4, 5])
    seq.tick(W)
    assert seq.abandon() == [Lost(2, 3), Deliver(4, "v4"), Deliver(5, "v5")]
    assert seq.abandon() == []


def test_live_items_inside_the_hole_while_waiting() -> None:
    seq: IdSequencer[str] = IdSequencer()
    seq.offer(1, "v1", 0)
    seq.offer(10, "v10", 0)
    assert seq.tick(W) == [Missing(2, 9)]
    assert seq.offer(2, "v2", W + 1) == [Deliver(2, "v2")]  # a very late live item still fits
    assert seq.offer(6, "v6", W + 2) == []  # held inside the hole
    out = seq.fill([(i, f"b{i}") for i in range(2, 10) if i != 4])
    assert out == [
        Deliver(3, "b3", backfilled=True),
        Lost(4, 4),
        Deliver(5, "b5", backfilled=True),
        Deliver(6, "v6"),
        Deliver(7, "b7", backfilled=True),
        Deliver(8, "b8", backfilled=True),
        Deliver(9, "b9", backfilled=True),
        Deliver(10, "v10"),
    ]


def test_hole_closed_by_late_live_items_stops_waiting() -> None:
    seq: IdSequencer[str] = IdSequencer()
    seq.offer(1, "v1", 0)
    seq.offer(4, "v4", 0)
    assert seq.tick(W) == [Missing(2, 3)]
    assert offer_all(seq, [2, 3], W) == [Deliver(2, "v2"), Deliver(3, "v3"), Deliver(4, "v4")]
    assert seq.waiting is None
    assert seq.fill([(2, "b2"), (3, "b3")]) == []  # the late answer is ignored
    assert seq.abandon() == []


def test_fill_for_an_older_hole_is_ignored() -> None:
    seq: IdSequencer[str] = IdSequencer(max_held=2)
    seq.offer(1, "v1", 0)
    seq.offer(3, "v3", 0)
    [old] = seq.tick(W)
    assert old == Missing(2, 2)
    out = offer_all(seq, [5, 6], W)  # 3 items held > max_held: the hole is declared lost
    assert out == [Lost(2, 2), Deliver(3, "v3")]
    assert seq.waiting is None
    [new] = seq.tick(2 * W)
    assert new == Missing(4, 4)
    assert seq.fill([(2, "b2")], hole=old) == []  # a late answer to the old hole
    assert seq.waiting == new
    assert seq.fill([(4, "b4")], hole=new) == [
        Deliver(4, "b4", backfilled=True),
        Deliver(5, "v5"),
        Deliver(6, "v6"),
    ]


def test_next_hole_after_fill_is_announced_at_once() -> None:
    seq: IdSequencer[str] = IdSequencer()
    seq.offer(1, "v1", 0)
    seq.offer(3, "v3", 0)
    seq.offer(5, "v5", 0)
    assert seq.tick(W) == [Missing(2, 2)]
    assert seq.fill([(2, "b2")]) == [Deliver(2, "b2", backfilled=True), Deliver(3, "v3")]
    assert seq.next_deadline_ns() == W  # already due
    assert seq.tick(W) == [Missing(4, 4)]


# -- bounds, reset ---------------------------------------------------------------------------------------


def test_max_held_bounds_memory_and_reports() -> None:
    seq: IdSequencer[str] = IdSequencer(max_held=3, backfill=False)
    seq.offer(1, "v1", 0)
    assert offer_all(seq, [3, 4, 5]) == []
    out = seq.offer(6, "v6", 0)
    assert out == [Lost(2, 2), Deliver(3, "v3"), Deliver(4, "v4"), Deliver(5, "v5"), Deliver(6, "v6")]
    assert seq.held == 0


def test_max_held_while_waiting() -> None:
    seq: IdSequencer[str] = IdSequencer(max_held=2)
    seq.offer(1, "v1", 0)
    seq.offer(5, "v5", 0)
    assert seq.tick(W) == [Missing(2, 4)]
    assert seq.offer(7, "v7", W) == []
    out = seq.offer(8, "v8", W)
    assert out[:2] == [Lost(2, 4), Deliver(5, "v5")]
    assert seq.held <= 2


def test_release_all_and_reset() -> None:
    seq: IdSequencer[str] = IdSequencer()
    seq.offer(1, "v1", 0)
    seq.offer(3, "v3", 0)
    seq.offer(6, "v6", 0)
    seq.tick(W)
    assert seq.release_all() == [Lost(2, 2), Deliver(3, "v3"), Lost(4, 5), Deliver(6, "v6")]
    assert seq.waiting is None and seq.held == 0
    seq.offer(9, "v9", 0)
    seq.reset()
    assert seq.last_id is None and seq.held == 0 and seq.next_deadline_ns() is None
    assert seq.offer(2, "new", 0) == [Deliver(2, "new")]  # a new subscription starts anywhere


def test_validation() -> None:
    with pytest.raises(ValueError, match="hold_window_ns"):
        IdSequencer(hold_window_ns=-1)
    with pytest.raises(ValueError, match="max_held"):
        IdSequencer(max_held=0)


# -- properties ------------------------------------------------------------------------------------------


@st.composite
def reordered_stream(draw: st.DrawFn) -> tuple[list[int], set[int], int]:
    """Ids 1..n minus some dropped, plus duplicates, each displaced by at most `d` positions.

    Returns (arrival order, ids never offered, d). Id 0 is offered first (the stream's start)."""
    n = draw(st.integers(1, 150))
    d = draw(st.integers(0, 6))
    dropped = draw(st.sets(st.integers(1, n), max_size=n // 3))
    offered = [i for i in range(1, n + 1) if i not in dropped]
    dup_of = draw(st.lists(st.sampled_from(offered), max_size=20)) if offered else []
    rnd = random.Random(draw(st.integers(0, 2**32)))
    keyed = [(pos + rnd.uniform(0, d), i) for pos, i in enumerate(offered)]
    keyed += [(offered.index(i) + rnd.uniform(0, d), i) for i in dup_of]
    keyed.sort()
    return [0] + [i for _, i in keyed], dropped, d


STEP = 1 * MS


def run(seq: IdSequencer[str], arrivals: list[int], step: int = STEP) -> list[Output[str]]:
    out: list[Output[str]] = []
    for k, i in enumerate(arrivals):
        out += seq.offer(i, f"v{i}", k * step)
    return out


def check_delivery(out: list[Output[str]], accounted_up_to: int) -> tuple[list[int], list[int]]:
    """Deliveries strictly increasing; every id 0..accounted_up_to delivered or lost exactly once."""
    delivered = ids_of(out)
    assert delivered == sorted(set(delivered)), "in order, no duplicate delivery"
    lost = [i for o in out if isinstance(o, Lost) for i in range(o.first_id, o.last_id + 1)]
    assert len(lost) == len(set(lost)), "each id reported lost once"
    assert not set(lost) & set(delivered)
    assert sorted(delivered + lost) == list(range(accounted_up_to + 1))
    return delivered, lost


@settings(max_examples=300)
@given(stream=reordered_stream())
def test_bounded_reorder_without_backfill(stream: tuple[list[int], set[int], int]) -> None:
    arrivals, dropped, d = stream
    seq: IdSequencer[str] = IdSequencer(hold_window_ns=(4 * d + 8) * STEP, backfill=False)
    out = run(seq, arrivals)
    out += seq.tick(10**15)
    assert not any(isinstance(o, Missing) for o in out)
    top = max(arrivals)
    delivered, lost = check_delivery(out, top)
    assert set(delivered) == set(arrivals)  # every offered id, exactly once, despite the reorder
    assert set(lost) == {i for i in dropped if i < top}  # every id never offered (below the top)
    dup_count = len(arrivals) - len(set(arrivals))
    assert sum(isinstance(o, Duplicate) for o in out) == dup_count
    assert all(not o.backfilled for o in out if isinstance(o, Deliver))
    assert seq.held == 0


@settings(max_examples=300)
@given(stream=reordered_stream(), data=st.data())
def test_bounded_reorder_with_backfill(stream: tuple[list[int], set[int], int], data: st.DataObject) -> None:
    """Each never-offered id is announced Missing once, then either backfilled or Lost; live ids are
    delivered live; a delayed backfill answer (more live items arriving meanwhile) changes nothing."""
    arrivals, dropped, d = stream
    available = data.draw(st.sets(st.sampled_from(sorted(dropped)))) if dropped else set()
    seq: IdSequencer[str] = IdSequencer(hold_window_ns=(4 * d + 8) * STEP, backfill=True)
    out: list[Output[str]] = []
    pending: tuple[Missing, int] | None = None
    provided: set[int] = set()

    def answer(hole: Missing) -> list[Output[str]]:
        if data.draw(st.booleans(), label="abandon"):
            return seq.abandon(hole=hole)
        items = [(i, f"b{i}") for i in range(hole.first_id, hole.last_id + 1) if i in available]
        provided.update(i for i, _ in items)
        junk = [(hole.first_id - 1, "junk"), (hole.last_id + 1, "junk")]
        items = items + items[:2] + junk  # duplicates and out-of-range ids are ignored
        random.Random(len(out)).shuffle(items)
        return seq.fill(items, hole=hole)

    for k, i in enumerate([*arrivals, None, None]):
        now = k * STEP
        new = seq.offer(i, f"v{i}", now) if i is not None else seq.tick(now + 10**12)
        out += new
        if pending is None:
            holes = [o for o in new if isinstance(o, Missing)]
            if holes:
                pending = (holes[0], data.draw(st.integers(0, 4), label="delay"))
        if pending is not None:
            hole, delay = pending
            if delay == 0 or i is None:
                pending = None
                out += answer(hole)
                out += seq.tick(now if i is not None else now + 10**12)
                while isinstance(out[-1], Missing):  # the next hole is due at once
                    out += answer(out[-1])
                    out += seq.tick(now if i is not None else now + 10**12)
            else:
                pending = (hole, delay - 1)
    top = max(arrivals)
    _, lost = check_delivery(out, top)
    missing = [i for o in out if isinstance(o, Missing) for i in range(o.first_id, o.last_id + 1)]
    never_offered = {i for i in dropped if i < top}
    assert sorted(missing) == sorted(never_offered)  # each announced exactly once
    backfilled = {o.id for o in out if isinstance(o, Deliver) and o.backfilled}
    assert backfilled == provided
    assert set(lost) == never_offered - provided
    live = {o.id for o in out if isinstance(o, Deliver) and not o.backfilled}
    assert live == set(arrivals)
    assert seq.held == 0 and seq.waiting is None


ops = st.lists(
    st.one_of(
        st.tuples(st.just("offer"), st.integers(0, 60), st.integers(0, 30 * MS)),
        st.tuples(st.just("tick"), st.just(0), st.integers(0, 100 * MS)),
        st.tuples(st.just("fill"), st.integers(0, 60), st.integers(0, 20)),
        st.tuples(st.just("abandon"), st.just(0), st.just(0)),
    ),
    max_size=150,
)


@settings(max_examples=300)
@given(
    ops=ops,
    max_held=st.integers(1, 8),
    backfill=st.booleans(),
    window=st.integers(0, 60 * MS),
)
def test_arbitrary_input_never_breaks_invariants(
    ops: list[tuple[str, int, int]], max_held: int, backfill: bool, window: int
) -> None:
    """Whatever arrives when, and whatever the backfill answers: in order, exactly once, bounded, and after
    release_all every id from the first to the last is delivered or lost."""
    seq: IdSequencer[str] = IdSequencer(hold_window_ns=window, max_held=max_held, backfill=backfill)
    now = 0
    out: list[Output[str]] = []
    first: int | None = None
    for op, a, b in ops:
        if op == "offer":
            now += b
            first = a if first is None else first
            out += seq.offer(a, f"v{a}", now)
        elif op == "tick":
            now += b
            out += seq.tick(now)
        elif op == "fill":
            out += seq.fill([(i, f"b{i}") for i in range(a, a + b)])
        else:
            out += seq.abandon()
        assert seq.held <= max_held
        if seq.waiting is not None:
            assert seq.last_id is not None and seq.waiting.last_id > seq.last_id  # an open hole
    out += seq.release_all()
    if first is None:
        assert out == []
        return
    delivered = ids_of(out)
    assert delivered == sorted(set(delivered))
    lost = [i for o in out if isinstance(o, Lost) for i in range(o.first_id, o.last_id + 1)]
    assert len(lost) == len(set(lost)) and not set(lost) & set(delivered)
    assert sorted(delivered + lost) == list(range(first, (seq.last_id or first) + 1))
