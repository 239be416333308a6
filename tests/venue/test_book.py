"""The venue's true order book (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from feed.binance_spot.book_sync import OrderBook
from mock_venues.binance_spot.book import TrueBook, diff_books


def test_snapshot_then_diffs_sorted_best_first_with_exact_strings() -> None:
    book = TrueBook("X")
    book.load_snapshot(10, [["9.50", "1.0"], ["10.00", "2.0"]], [["11.00", "3.0"], ["10.50", "0.5"]])
    assert not book.apply_diff(5, 10, [["9.50", "0"]], [])  # already in the snapshot
    assert book.apply_diff(11, 12, [["9.50", "0.00000000"], ["9.75", "4.00"]], [["12.00", "1.0"]])
    assert book.snapshot() == {
        "lastUpdateId": 12,
        "bids": [["10.00", "2.0"], ["9.75", "4.00"]],
        "asks": [["10.50", "0.5"], ["11.00", "3.0"], ["12.00", "1.0"]],
    }
    assert book.snapshot(1)["asks"] == [["10.50", "0.5"]]
    assert book.best() == (["10.00", "2.0"], ["10.50", "0.5"])
    assert book.gaps == 0
    book.apply_diff(20, 21, [], [])
    assert book.gaps == 1 and book.last_update_id == 21


def test_numeric_not_lexical_order() -> None:
    book = TrueBook("X")
    book.load_snapshot(1, [["9.9", "1"], ["10.1", "1"], ["100.0", "1"]], [])
    assert [p for p, _ in book.snapshot()["bids"]] == ["100.0", "10.1", "9.9"]


def test_diff_books_compares_numerically() -> None:
    a = {"lastUpdateId": 3, "bids": [["1.0", "2.00"]], "asks": []}
    assert diff_books(a, {"lastUpdateId": 3, "bids": [["1.00", "2"]], "asks": []}) == []
    problems = diff_books(a, {"lastUpdateId": 4, "bids": [["1.0", "3"]], "asks": [["2", "1"]]})
    assert len(problems) == 3 and problems[0].startswith("lastUpdateId 4")


levels = st.lists(
    st.tuples(st.integers(1, 50).map(lambda p: f"{p}.00"), st.sampled_from(["0.00000000", "1.5", "2.25"])),
    max_size=8,
)


@given(st.lists(st.tuples(levels, levels), max_size=30))
def test_matches_the_feed_book_on_any_diff_sequence(
    diffs: list[tuple[list[tuple[str, str]], list[tuple[str, str]]]],
) -> None:
    truth, feed = TrueBook("X"), OrderBook()
    truth.load_snapshot(0, [], [])
    for i, (bids, asks) in enumerate(diffs, 1):
        b = [list(x) for x in bids]
        a = [list(x) for x in asks]
        truth.apply_diff(i, i, b, a)
        feed.apply(b, a)
    assert truth.levels() == feed.top()


def test_a_crossing_is_counted_with_the_first_one_kept() -> None:
    book = TrueBook("X")
    book.load_snapshot(10, [["10.00", "1"], ["9.00", "1"]], [["11.00", "1"], ["12.00", "1"]])
    assert book.crossings == 0 and not book.crossed
    book.apply_diff(11, 11, [["10.00", "0"]], [["10.50", "1"]])  # bid removed, a better ask: still fine
    book.apply_diff(12, 12, [["10.40", "2"]], [])
    assert book.crossings == 0 and not book.crossed
    book.apply_diff(13, 13, [["10.50", "1"]], [])  # bid at the best ask: crossed
    assert book.crossings == 1 and book.crossed
    assert book.first_crossing == {"id": 13, "bid": ["10.50", "1"], "ask": ["10.50", "1"]}
    book.apply_diff(14, 14, [["10.50", "0"]], [])
    book.apply_diff(15, 15, [], [["9.50", "1"]])  # an ask below the best bid
    assert book.crossings == 2 and book.first_crossing["id"] == 13


@given(
    st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(90, 110), st.integers(0, 2)), max_size=4),
            st.lists(st.tuples(st.integers(90, 110), st.integers(0, 2)), max_size=4),
        ),
        max_size=40,
    )
)
def test_the_first_crossing_is_found_exactly(diffs: list[tuple[list[tuple[int, int]], ...]]) -> None:
    book = TrueBook("X")
    book.load_snapshot(0, [["99", "1"], ["95", "1"]], [["101", "1"], ["105", "1"]])
    first_crossed: int | None = None
    first_counted: int | None = None
    for i, (bids, asks) in enumerate(diffs, start=1):
        book.apply_diff(i, i, [[str(p), str(q)] for p, q in bids], [[str(p), str(q)] for p, q in asks])
        best_bid = max((float(p) for p in book.bids), default=None)
        best_ask = min((float(p) for p in book.asks), default=None)
        if first_crossed is None and best_bid is not None and best_ask is not None and best_bid >= best_ask:
            first_crossed = i
        if first_counted is None and book.crossings:
            first_counted = i
    assert first_counted == first_crossed
