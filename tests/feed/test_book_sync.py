"""BookSync: Binance's snapshot + diff procedure on hand-made event sequences and random ones."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from feed.binance_spot.book_sync import BookSync, OrderBook, Step


def diff(first: int, final: int, bids=(), asks=()):  # type: ignore[no-untyped-def]
    return first, final, [list(b) for b in bids], [list(a) for a in asks]


def test_buffers_until_snapshot_then_drops_stale_and_applies_bridge() -> None:
    sync = BookSync("BTCUSDT")
    assert sync.on_diff(*diff(90, 95, bids=[("10", "1")])) is Step.BUFFERED
    assert sync.on_diff(*diff(96, 101, bids=[("11", "2")])) is Step.BUFFERED
    assert sync.on_diff(*diff(102, 103, asks=[("12", "3")])) is Step.BUFFERED
    step = sync.apply_snapshot(99, [["10", "5"], ["9", "1"]], [["12", "1"]])
    assert step is Step.SYNCED
    assert sync.book.last_update_id == 103
    assert sync.book.bids == {"10": "5", "9": "1", "11": "2"}  # 90-95 dropped, 96-101 bridges
    assert sync.book.asks == {"12": "3"}


def test_snapshot_older_than_stream_asks_for_refetch() -> None:
    sync = BookSync("X")
    sync.on_diff(*diff(100, 105))
    assert sync.apply_snapshot(90, [], []) is Step.REFETCH
    assert not sync.synced
    assert sync.apply_snapshot(102, [], []) is Step.SYNCED


def test_snapshot_exactly_before_first_event_is_accepted() -> None:
    sync = BookSync("X")
    sync.on_diff(*diff(100, 105, asks=[("1", "1")]))
    assert sync.apply_snapshot(99, [], []) is Step.SYNCED
    assert sync.book.asks == {"1": "1"}


def test_gap_invalidates_and_stale_is_ignored() -> None:
    sync = BookSync("X")
    sync.on_diff(*diff(10, 10))
    sync.apply_snapshot(10, [["5", "1"]], [])
    assert sync.on_diff(*diff(8, 10)) is Step.STALE
    assert sync.on_diff(*diff(11, 12, bids=[("5", "0.000")])) is Step.APPLIED
    assert sync.book.bids == {}
    assert sync.on_diff(*diff(14, 15)) is Step.GAP
    assert not sync.synced
    assert sync.resyncs == 1
    assert sync.first_buffered_id == 14


def test_snapshot_before_any_diff_is_the_book_and_the_next_diff_must_bridge_it() -> None:
    sync = BookSync("X")
    assert sync.apply_snapshot(10, [["5", "1"]], []) is Step.SYNCED
    assert sync.on_diff(*diff(8, 10, bids=[("5", "9")])) is Step.STALE  # already in the snapshot
    assert sync.on_diff(*diff(9, 11, bids=[("5", "2")])) is Step.APPLIED  # bridges 10 -> 11
    assert sync.book.bids == {"5": "2"}
    other = BookSync("Y")
    other.apply_snapshot(10, [], [])
    assert other.on_diff(*diff(13, 14)) is Step.GAP  # 11 and 12 never seen: resync


def test_top_orders_numerically() -> None:
    book = OrderBook(bids={"9.5": "1", "10.25": "2", "10": "3"}, asks={"11": "1", "10.5": "2"})
    bids, asks = book.top()
    assert [b[0] for b in bids] == ["10.25", "10", "9.5"]
    assert [a[0] for a in asks] == ["10.5", "11"]
    assert book.top(1) == ([["10.25", "2"]], [["10.5", "2"]])


levels = st.lists(
    st.tuples(st.integers(1, 30).map(str), st.sampled_from(["0", "0.00000000", "1.5", "2", "3.25"])),
    max_size=6,
)


@given(st.lists(st.tuples(levels, levels), min_size=1, max_size=40), st.integers(0, 39))
def test_synced_book_equals_naive_replay(events: list, snapshot_at: int) -> None:  # type: ignore[type-arg]
    """After syncing at any point, the book equals applying every event to the snapshot's state."""
    snapshot_at = min(snapshot_at, len(events) - 1)
    naive: dict[str, dict[str, str]] = {"b": {}, "a": {}}
    sync = BookSync("X")
    for i, (bids, asks) in enumerate(events):
        uid = 100 + i
        for side, lv in (("b", bids), ("a", asks)):
            for p, q in lv:
                if float(q) == 0:
                    naive[side].pop(p, None)
                else:
                    naive[side][p] = q
        sync.on_diff(uid, uid, [list(x) for x in bids], [list(x) for x in asks])
        if i == snapshot_at:
            step = sync.apply_snapshot(
                uid, [[p, q] for p, q in naive["b"].items()], [[p, q] for p, q in naive["a"].items()]
            )
            assert step is Step.SYNCED
    assert sync.synced
    assert sync.book.bids == naive["b"]
    assert sync.book.asks == naive["a"]
    assert all(float(q) != 0 for q in sync.book.bids.values())


side_levels = st.lists(
    st.tuples(st.integers(1, 50), st.sampled_from(["0", "0.00000000", "1.5", "2", "3.25"])), max_size=6
)


@given(st.lists(st.tuples(side_levels, side_levels), min_size=1, max_size=40))
def test_book_invariants_hold_under_valid_diff_sequences(events: list) -> None:  # type: ignore[type-arg]
    """Sorted sides, no zero-quantity level and no crossed book, whatever valid diffs arrive after a sync."""
    sync = BookSync("X")
    sync.on_diff(100, 100, [], [])
    assert sync.apply_snapshot(100, [["10", "1"]], [["60", "1"]]) is Step.SYNCED
    for i, (bids, asks) in enumerate(events, start=101):
        # Valid venue data never crosses: bids below 51, asks from 51 up.
        b = [[f"{p}.00", q] for p, q in bids]
        a = [[f"{p + 50}.00", q] for p, q in asks]
        assert sync.on_diff(i, i, b, a) is Step.APPLIED
        top_bids, top_asks = sync.book.top()
        bid_prices = [float(p) for p, _ in top_bids]
        ask_prices = [float(p) for p, _ in top_asks]
        assert bid_prices == sorted(bid_prices, reverse=True) and ask_prices == sorted(ask_prices)
        assert all(float(q) > 0 for _, q in top_bids + top_asks)
        if bid_prices and ask_prices:
            assert bid_prices[0] < ask_prices[0]
