"""The venue-neutral engine on Alpaca's sequence-less streams: time windows, gaps with time ranges, resets."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from feed.adapter import SnapshotRequest, WindowFill, WindowRequest
from feed.alpaca.adapter import AlpacaAdapter
from feed.alpaca.codec import format_rfc3339_ns, market
from feed.config import VenueOptions, VenueSettings, resolve_venue
from feed.engine import EngineSettings, VenueEngine
from feed.events import FeedEvent

S = 1_000_000_000
T0 = 1_700_000_000 * S


def settings(symbols: list[str], streams: list[str]) -> VenueSettings:
    resolved, problems = resolve_venue(
        VenueOptions(venue="alpaca", symbols=symbols, streams=streams, api_key="k", api_secret="s")
    )
    assert resolved is not None, problems
    return resolved


def engine(symbols: list[str], streams: list[str]) -> VenueEngine:
    adapter = AlpacaAdapter()
    eng = VenueEngine("alpaca", adapter)
    eng.watch(adapter.stream_specs(settings(symbols, streams)), 0)
    return eng


def trade(i: int, at_s: float, x: str = "V", symbol: str = "AAPL") -> dict[str, Any]:
    return {"T": "t", "S": symbol, "i": i, "x": x, "p": 100.0, "s": 1, "c": [], "z": "C",
            "t": format_rfc3339_ns(T0 + int(at_s * S))}  # fmt: skip


def frame(*messages: dict[str, Any]) -> bytes:
    return orjson.dumps(list(messages))


def markets(events: list[FeedEvent]) -> list[tuple[str, int | None, bool]]:
    return [(e.stream, e.id, e.backfilled) for e in events if e.type == "market"]


def gaps(events: list[FeedEvent]) -> list[FeedEvent]:
    return [e for e in events if e.type == "gap"]


def test_stock_trades_are_deduplicated_by_exchange_and_id() -> None:
    eng = engine(["AAPL"], ["trades"])
    eng.receive_frame(frame(trade(1, 1, "V"), trade(1, 1, "K"), trade(1, 1, "V")), 1)
    assert markets(eng.events_received()) == [("trades.AAPL", 1, False), ("trades.AAPL", 1, False)]
    assert eng.counters.duplicates == 1


def test_reconnect_window_is_filled_and_deduplicated_no_gap() -> None:
    eng = engine(["AAPL"], ["trades"])
    eng.receive_frame(frame(trade(1, 1), trade(2, 2)), 1)
    eng.events_received()
    eng.interrupted(["trades.AAPL", "corrections.AAPL", "cancelErrors.AAPL"], 2)
    eng.subscribed(["trades.AAPL"], 3)
    assert eng.requests_to_send() == []  # the window closes with the first live message
    eng.receive_frame(frame(trade(6, 6)), 4)
    (request,) = eng.requests_to_send()
    assert request == WindowRequest("trades.AAPL", T0 + 2 * S, T0 + 6 * S)
    eng.receive_frame(frame(trade(7, 7)), 5)  # held behind the window
    assert markets(eng.events_received()) == []
    rest = [market(trade(i, i)) for i in (2, 3, 4, 5, 6)]  # overlaps on both ends
    eng.receive_window("trades.AAPL", WindowFill(rest), 6)  # type: ignore[arg-type]
    events = eng.events_received()
    assert markets(events) == [
        ("trades.AAPL", 3, True), ("trades.AAPL", 4, True), ("trades.AAPL", 5, True),
        ("trades.AAPL", 6, True), ("trades.AAPL", 7, False),
    ]  # fmt: skip
    assert gaps(events) == []
    assert eng.counters.backfilled == 4 and eng.counters.duplicates == 2  # 2 (delivered) and 6 (held)


def test_failed_window_is_a_gap_with_its_time_range_and_releases_held() -> None:
    eng = engine(["BTC/USD"], ["trades"])
    eng.receive_frame(frame({**trade(10, 1, symbol="BTC/USD")}), 1)
    eng.interrupted(["trades.BTC/USD"], 2)
    eng.receive_frame(frame({**trade(20, 9, symbol="BTC/USD")}), 3)
    (request,) = eng.requests_to_send()
    assert isinstance(request, WindowRequest)
    eng.window_failed("trades.BTC/USD", "HTTP 429 beyond the retry budget", 4)
    events = eng.events_received()
    (gap,) = gaps(events)
    assert gap.detail is not None
    assert (gap.detail["from_ns"], gap.detail["to_ns"]) == (T0 + S, T0 + 9 * S)
    assert gap.id is None and gap.first_id is None and "429" in gap.detail["reason"]
    assert markets(events)[-1] == ("trades.BTC/USD", 20, False)


def test_partial_window_reports_the_uncovered_rest() -> None:
    eng = engine(["AAPL"], ["trades"])
    eng.receive_frame(frame(trade(1, 1)), 1)
    eng.events_received()
    eng.interrupted(["trades.AAPL"], 2)
    eng.receive_frame(frame(trade(9, 9)), 3)
    eng.requests_to_send()
    found = [market(trade(2, 2)), market(trade(3, 3))]
    fill = WindowFill(found, complete=False, covered_to_ns=T0 + 3 * S)  # type: ignore[arg-type]
    eng.receive_window("trades.AAPL", fill, 4)
    events = eng.events_received()
    assert [m[1] for m in markets(events)] == [2, 3, 9]
    (gap,) = gaps(events)
    assert gap.detail is not None and (gap.detail["from_ns"], gap.detail["to_ns"]) == (T0 + 3 * S, T0 + 9 * S)


def test_streams_without_a_rest_window_report_the_outage_as_a_gap() -> None:
    eng = engine(["AAPL"], ["quotes"])
    quote = {"T": "q", "S": "AAPL", "bp": 1, "bs": 1, "ap": 2, "as": 1}
    eng.receive_frame(frame({**quote, "t": format_rfc3339_ns(T0 + S)}), 1)
    eng.interrupted(["quotes.AAPL"], 2)
    eng.receive_frame(frame({**quote, "t": format_rfc3339_ns(T0 + 5 * S)}), 3)
    assert eng.requests_to_send() == []
    events = eng.events_received()
    (gap,) = gaps(events)
    assert gap.stream == "quotes.AAPL" and gap.detail is not None
    assert (gap.detail["from_ns"], gap.detail["to_ns"]) == (T0 + S, T0 + 5 * S)
    assert len(markets(events)) == 2


def book_msg(at_s: float, bids: list[tuple[float, float]], reset: bool = False) -> dict[str, Any]:
    doc = {"T": "o", "S": "BTC/USD", "t": format_rfc3339_ns(T0 + int(at_s * S)),
           "b": [{"p": p, "s": s} for p, s in bids], "a": []}  # fmt: skip
    if reset:
        doc["r"] = True
    return doc


def test_book_reset_flag_replaces_the_book() -> None:
    eng = engine(["BTC/USD"], ["orderbooks"])
    eng.receive_frame(frame(book_msg(1, [(10.0, 1.0)])), 1)  # a diff before any reset: buffered
    assert eng.requests_to_send() == [SnapshotRequest("orderbooks.BTC/USD")]
    eng.receive_frame(frame(book_msg(2, [(10.0, 1.0), (9.0, 2.0)], reset=True)), 2)
    events = eng.events_received()
    assert [e.type for e in events if e.type != "market"] == ["book_resynced"]
    eng.receive_frame(frame(book_msg(3, [(9.0, 0), (8.0, 4.0)])), 3)
    book = eng.books["BTC/USD"].sync
    assert book.synced and book.view().bids == [["10.0", "1.0"], ["8.0", "4.0"]]
    eng.receive_frame(frame(book_msg(4, [(7.0, 1.0)], reset=True)), 4)
    assert book.view().bids == [["7.0", "1.0"]]
    # A drop: the book cannot be bridged by diffs; it waits for the next reset.
    eng.events_received()
    eng.interrupted(["orderbooks.BTC/USD"], 5)
    assert [e.type for e in eng.events_received()] == ["book_invalid"]
    eng.receive_frame(frame(book_msg(6, [(6.0, 1.0)])), 6)
    assert not book.synced
    eng.receive_frame(frame(book_msg(7, [(5.0, 1.0)], reset=True)), 7)
    assert book.synced and book.view().bids == [["5.0", "1.0"]]


def test_rest_snapshot_rebuilds_the_book_and_applies_newer_buffered_diffs() -> None:
    eng = engine(["BTC/USD"], ["orderbooks"])
    eng.receive_frame(frame(book_msg(1, [(10.0, 1.0)])), 1)
    eng.receive_frame(frame(book_msg(3, [(11.0, 1.0)])), 2)
    eng.receive_snapshot("orderbooks.BTC/USD", {"t": T0 + 2 * S, "b": [{"p": 9.0, "s": 1.0}], "a": []}, 3)
    book = eng.books["BTC/USD"].sync
    assert book.synced and book.view().bids == [["11.0", "1.0"], ["9.0", "1.0"]]


@pytest.mark.parametrize("original_delivered", [True, False])
def test_corrections_and_cancels_are_events_referring_to_the_original(original_delivered: bool) -> None:
    eng = engine(["AAPL"], ["trades"])
    if original_delivered:
        eng.receive_frame(frame(trade(628, 1, "K")), 1)
    corr = {"T": "c", "S": "AAPL", "x": "K", "oi": 628, "op": 100.0, "os": 1, "oc": [], "ci": 629,
            "cp": 101.0, "cs": 1, "cc": [], "t": format_rfc3339_ns(T0 + 2 * S), "z": "C"}  # fmt: skip
    cancel = {"T": "x", "S": "AAPL", "i": 628, "x": "K", "p": 100.0, "s": 1, "a": "C",
              "t": format_rfc3339_ns(T0 + 3 * S), "z": "C"}  # fmt: skip
    eng.receive_frame(frame(corr, cancel), 2)
    events = [e for e in eng.events_received() if e.channel == "correction"]
    assert [(e.stream, e.id) for e in events] == [("corrections.AAPL", 628), ("cancelErrors.AAPL", 628)]
    for event in events:
        assert event.detail == {"corrects": "trades.AAPL", "original_delivered": original_delivered}
    # history is not rewritten: the original trade event stays as delivered
    assert eng.counters.duplicates == 0


def test_a_drop_before_anything_was_known_is_a_gap_with_an_open_start() -> None:
    eng = engine(["AAPL"], ["trades"])
    eng.interrupted(["trades.AAPL"], 1)
    eng.subscribed(["trades.AAPL"], 2)
    eng.receive_frame(frame(trade(5, 5)), 3)
    assert eng.requests_to_send() == []  # no start: no window to ask for
    events = eng.events_received()
    (gap,) = gaps(events)
    assert gap.detail is not None and (gap.detail["from_ns"], gap.detail["to_ns"]) == (None, T0 + 5 * S)
    assert markets(events) == [("trades.AAPL", 5, False)]


def test_other_streams_give_the_window_its_start() -> None:
    eng = engine(["AAPL", "MSFT"], ["trades"])
    eng.receive_frame(frame(trade(1, 4, symbol="MSFT")), 1)  # the venue's clock: T0 + 4 s
    eng.interrupted(["trades.AAPL", "trades.MSFT"], 2)
    eng.receive_frame(frame(trade(2, 6)), 3)
    assert eng.requests_to_send() == [WindowRequest("trades.AAPL", T0 + 4 * S, T0 + 6 * S)]


def test_too_many_live_messages_behind_a_window_give_it_up_as_a_gap() -> None:
    adapter = AlpacaAdapter()
    eng = VenueEngine("alpaca", adapter, EngineSettings(max_held=3))
    eng.watch(adapter.stream_specs(settings(["AAPL"], ["trades"])), 0)
    eng.receive_frame(frame(trade(1, 1)), 1)
    eng.interrupted(["trades.AAPL"], 2)
    eng.receive_frame(frame(*(trade(i, i) for i in range(5, 9))), 3)  # 1 opens the window, 4 held
    events = eng.events_received()
    (gap,) = gaps(events)
    assert gap.detail is not None and "held" in gap.detail["reason"]
    assert [m[1] for m in markets(events)] == [1, 5, 6, 7, 8]
    eng.receive_window("trades.AAPL", WindowFill([]), 4)  # a late answer changes nothing
    assert eng.events_received() == []


def test_event_driven_streams_are_not_watched_for_staleness() -> None:
    eng = engine(["AAPL"], ["trades", "statuses"])
    assert set(eng.staleness._streams) == {"trades.AAPL"}  # corrections, cancels, statuses are sparse
    eng.tick(10**12)
    stale = [e.stream for e in eng.events_received() if e.type == "stale"]
    assert stale == ["trades.AAPL"]
    status = {"T": "s", "S": "AAPL", "sc": "H", "sm": "Halt", "rc": "T12", "rm": "x",
              "t": format_rfc3339_ns(T0), "z": "C"}  # fmt: skip
    eng.receive_frame(frame(status), 10**12 + 1)
    assert [e.type for e in eng.events_received()] == ["market"]


def test_stop_reports_a_window_still_open_as_a_gap_without_end() -> None:
    eng = engine(["AAPL"], ["trades"])
    eng.receive_frame(frame(trade(1, 1), trade(2, 2)), 1)
    eng.events_received()
    eng.interrupted(["trades.AAPL"], 2)  # the connection is still down when the feed stops
    eng.stop(3)
    (gap,) = gaps(eng.events_received())
    assert gap.stream == "trades.AAPL" and gap.id is None and gap.first_id is None
    assert gap.detail["from_ns"] == T0 + 2 * S and gap.detail["to_ns"] is None
    assert "stopped" in gap.detail["reason"]
    eng.stop(4)  # reported once
    assert gaps(eng.events_received()) == []


def test_stop_fails_a_window_being_fetched_and_delivers_what_it_held() -> None:
    eng = engine(["AAPL"], ["trades"])
    eng.receive_frame(frame(trade(1, 1)), 1)
    eng.interrupted(["trades.AAPL"], 2)
    eng.receive_frame(frame(trade(5, 5)), 3)  # closes the window: fetched over REST, 5 is held
    assert eng.requests_to_send() == [WindowRequest("trades.AAPL", T0 + 1 * S, T0 + 5 * S)]
    eng.events_received()
    eng.stop(4)
    events = eng.events_received()
    (gap,) = gaps(events)
    assert (gap.detail["from_ns"], gap.detail["to_ns"]) == (T0 + 1 * S, T0 + 5 * S)
    assert markets(events) == [("trades.AAPL", 5, False)]


def test_stop_on_healthy_streams_reports_nothing() -> None:
    eng = engine(["AAPL"], ["trades", "quotes"])
    eng.receive_frame(frame(trade(1, 1)), 1)
    eng.events_received()
    eng.stop(2)
    assert eng.events_received() == []
