"""TradeStore: Binance REST trade queries over what the venue published, bounded memory, exact quoteQty."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_venues.binance_spot.trade_store import TradeStore, quote_qty

AGG_KEYS = {"a", "p", "q", "f", "l", "T", "m", "M"}
TRADE_KEYS = {"id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"}


def _aggs(store: TradeStore, n: int, first_id: int = 100, t0: int = 1_000, step_ms: int = 10) -> None:
    for i in range(n):
        a = first_id + i
        store.add_agg(a, "61000.01000000", "0.00100000", a * 2, a * 2 + 1, t0 + i * step_ms, i % 2 == 0)


def _trades(store: TradeStore, n: int, first_id: int = 500) -> None:
    for i in range(n):
        store.add_trade(first_id + i, "4.00000100", "12.00000000", 1_000 + i, i % 3 == 0)


def test_agg_trades_shape() -> None:
    store = TradeStore()
    _aggs(store, 3)
    rows = store.agg_trades(None, None, None, 500)
    assert [r["a"] for r in rows] == [100, 101, 102]
    assert set(rows[0]) == AGG_KEYS
    assert rows[0] == {
        "a": 100,
        "p": "61000.01000000",
        "q": "0.00100000",
        "f": 200,
        "l": 201,
        "T": 1_000,
        "m": True,
        "M": True,
    }
    assert all(isinstance(r["a"], int) and isinstance(r["T"], int) and r["M"] is True for r in rows)


def test_agg_trades_most_recent_by_default() -> None:
    store = TradeStore()
    _aggs(store, 20)
    assert [r["a"] for r in store.agg_trades(None, None, None, 5)] == [115, 116, 117, 118, 119]


def test_agg_trades_from_id_is_inclusive_and_wins_over_times() -> None:
    store = TradeStore()
    _aggs(store, 20)
    assert [r["a"] for r in store.agg_trades(105, None, None, 3)] == [105, 106, 107]
    assert [r["a"] for r in store.agg_trades(105, 1_000, 1_010, 3)] == [105, 106, 107]
    assert [r["a"] for r in store.agg_trades(0, None, None, 2)] == [100, 101]  # before the oldest
    assert store.agg_trades(500, None, None, 10) == []  # past the newest


def test_agg_trades_time_windows() -> None:
    store = TradeStore()
    _aggs(store, 20)  # T = 1000, 1010, ... 1190
    # both: inclusive, from the start
    assert [r["T"] for r in store.agg_trades(None, 1_020, 1_050, 500)] == [1_020, 1_030, 1_040, 1_050]
    assert [r["T"] for r in store.agg_trades(None, 1_020, 1_050, 2)] == [1_020, 1_030]
    # start only: the first `limit` from it
    assert [r["T"] for r in store.agg_trades(None, 1_185, None, 500)] == [1_190]
    assert [r["a"] for r in store.agg_trades(None, 1_001, None, 2)] == [101, 102]
    # end only: the last `limit` up to it
    assert [r["T"] for r in store.agg_trades(None, None, 1_030, 2)] == [1_020, 1_030]
    # no cap on the window, and an inverted window is empty
    assert len(store.agg_trades(None, 0, 10**15, 1000)) == 20
    assert store.agg_trades(None, 1_050, 1_020, 500) == []


def test_limits_are_clamped_to_1_1000() -> None:
    store = TradeStore()
    _aggs(store, 1_500)
    assert len(store.agg_trades(None, None, None, 5_000)) == 1_000
    assert len(store.agg_trades(None, None, None, 0)) == 1
    _trades(store, 1_200)
    assert len(store.recent_trades(2_000)) == 1_000


def test_recent_and_historical_trades() -> None:
    store = TradeStore()
    _trades(store, 10)
    recent = store.recent_trades(3)
    assert [r["id"] for r in recent] == [507, 508, 509]
    assert set(recent[0]) == TRADE_KEYS
    assert recent[0]["isBestMatch"] is True and recent[0]["time"] == 1_007
    assert [r["id"] for r in store.historical_trades(503, 4)] == [503, 504, 505, 506]
    assert [r["id"] for r in store.historical_trades(None, 2)] == [508, 509]
    assert store.historical_trades(10_000, 5) == []


def test_quote_qty_is_exact_decimal_never_float() -> None:
    store = TradeStore()
    store.add_trade(1, "4.00000100", "12.00000000", 1, True)
    store.add_trade(2, "0.1", "0.3", 2, False)  # 0.1 * 0.3 in float is 0.030000000000000002
    store.add_trade(3, "26964.90000000", "0.00037000", 3, False)
    rows = store.recent_trades(10)
    assert [r["quoteQty"] for r in rows] == ["48.00001200", "0.03000000", "9.97701300"]
    assert Decimal(rows[0]["quoteQty"]) == Decimal("4.00000100") * Decimal("12.00000000")


def test_quote_qty_rounds_half_even_to_quote_precision() -> None:
    assert quote_qty("0.01633102", "4.70443515") == "0.07682822"  # exact 0.0768282245233530
    assert quote_qty("0.000000015", "1") == "0.00000002"  # half-even: 1.5e-8 -> 2e-8
    assert quote_qty("0.000000025", "1") == "0.00000002"  # 2.5e-8 -> 2e-8
    assert (
        quote_qty("123456789012.12345678", "98765.4321", decimals=2) == "12193263112460905.35"
    )  # 30 significant digits: no precision loss


def test_memory_is_bounded_to_the_newest() -> None:
    store = TradeStore(max_trades=10, max_aggs=8)
    _trades(store, 1_000)
    _aggs(store, 1_000)
    assert store.trade_count == 10 and store.agg_count == 8
    assert [r["id"] for r in store.recent_trades(1000)] == list(range(1_490, 1_500))
    assert [r["a"] for r in store.agg_trades(None, None, None, 1000)] == list(range(1_092, 1_100))
    assert [r["a"] for r in store.agg_trades(0, None, None, 3)] == [1_092, 1_093, 1_094]  # old ids are gone
    assert len(store._trades.ids) <= 10 + 10 // 4 and len(store._aggs.rows) <= 8 + 8 // 4


def test_out_of_order_ids_are_inserted_and_duplicates_ignored() -> None:
    store = TradeStore()
    for t in (1, 2, 5, 3, 5, 4):
        store.add_trade(t, f"{t}.0", "1.0", 1_000 + t, False)
    assert [r["id"] for r in store.recent_trades(10)] == [1, 2, 3, 4, 5]
    assert [r["time"] for r in store.recent_trades(10)] == [1_001, 1_002, 1_003, 1_004, 1_005]


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        TradeStore(max_trades=0)


@given(
    gaps=st.lists(st.integers(0, 50), min_size=0, max_size=80),
    from_id=st.none() | st.integers(0, 120),
    start=st.none() | st.integers(0, 3_000),
    end=st.none() | st.integers(0, 3_000),
    limit=st.integers(1, 30),
)
def test_agg_trades_match_a_brute_force_filter(
    gaps: list[int], from_id: int | None, start: int | None, end: int | None, limit: int
) -> None:
    store = TradeStore(max_aggs=50)
    rows = []
    t = 0
    for i, gap in enumerate(gaps):
        t += gap
        store.add_agg(i, "1.0", "2.0", i, i, t, False)
        rows.append((i, t))
    visible = rows[-50:]
    if from_id is not None:
        expected = [a for a, _ in visible if a >= from_id][:limit]
    elif start is not None:
        expected = [a for a, t_ms in visible if t_ms >= start and (end is None or t_ms <= end)][:limit]
    elif end is not None:
        expected = [a for a, t_ms in visible if t_ms <= end][-limit:]
    else:
        expected = [a for a, _ in visible][-limit:]
    assert [r["a"] for r in store.agg_trades(from_id, start, end, limit)] == expected
