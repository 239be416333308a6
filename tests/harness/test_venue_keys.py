"""The delivery checks joined on the venue's own keys and on gaps by time (venue-neutral paths), and the
Alpaca venue's key rule the harness joins with (the mock venue is the oracle of its keys)."""

from __future__ import annotations

from typing import Any

from harness.checks.delivery import Delivered, Published, check_stream, delivered_streams, rebase_offset
from harness.evaluate import history_keys, judged_latencies
from harness.feed_history import FeedEventRow
from harness.rundata import FaultWindow, LiveLatency, RunData, VenueRun
from mock_venues.alpaca.server import AlpacaVenue
from mock_venues.base.history import VenueHistory
from mock_venues.base.venue import VenueBase

K = 10**12  # the Alpaca venue's per-exchange step of stock trade keys


def by_check(verdicts: list[Any]) -> dict[str, Any]:
    return {v.check.split(" [")[0]: v for v in verdicts}


def published(ids: list[int], exchange_ns: list[int] | None = None) -> Published:
    return Published(ids=ids, intended_ns=[i * 1_000 for i in range(len(ids))], exchange_ns=exchange_ns)


def test_the_default_key_is_the_event_id_and_alpaca_keys_stock_trades_per_exchange() -> None:
    assert VenueBase.history_key("trade", 7, {"x": "Q"}) == 7
    key = AlpacaVenue.history_key
    assert key("trades.IBM", 5, {"x": "Q", "i": 5}) == ord("Q") * K + 5
    assert key("cancelErrors.IBM", 5, {"x": "P", "i": 5}) == ord("P") * K + 5
    assert key("corrections.IBM", 5, {"x": "Q", "oi": 5, "ci": 1_000_000_005}) == ord("Q") * K + 1_000_000_005
    assert key("trades.BTC/USD", 3735683259, {"i": 3735683259}) == 3735683259  # crypto: the id itself
    assert key("news.*", 2, {"id": 2}) == 2
    assert key("quotes.IBM", None, {"bp": 1.0}) is None  # counters: not joinable
    assert key("orderbooks.BTC/USD", None, {"b": []}) is None


def test_keys_that_do_not_increase_are_checked_in_publishing_order() -> None:
    ids = [ord("Q") * K + 1, ord("P") * K + 1, ord("Q") * K + 2, ord("P") * K + 2]
    ok = by_check(check_stream("trades.IBM", published(ids), Delivered(ids=list(ids))))
    assert all(v.ok for v in ok.values()), ok
    assert ok["in order"].summary == "in the order the venue published"
    # One trade missing: lost (the rule "from the first id handled" must not skip the smaller keys).
    lost = by_check(check_stream("trades.IBM", published(ids), Delivered(ids=[ids[0], ids[2], ids[3]])))
    assert not lost["no unreported loss"].ok and lost["no unreported loss"].evidence["lost"] == 1
    assert lost["no unreported loss"].evidence["first_lost"][0]["id"] == ids[1]
    # Delivered out of publishing order.
    swapped = by_check(
        check_stream("trades.IBM", published(ids), Delivered(ids=[ids[0], ids[2], ids[1], ids[3]]))
    )
    assert not swapped["in order"].ok and swapped["in order"].evidence["first_out_of_order"] == [
        (ids[2], ids[1])
    ]


def test_a_message_inside_a_gap_by_time_is_accounted_for_and_outside_it_is_lost() -> None:
    ids = [ord("Q") * K + n for n in range(1, 6)]
    times = [100, 200, 300, 400, 500]
    reported = Delivered(ids=[ids[0], ids[4]], exchange_ns=[100, 500], time_gaps=[(100, 500)])
    assert by_check(check_stream("c", published(ids, times), reported))["no unreported loss"].ok
    narrow = Delivered(ids=[ids[0], ids[4]], exchange_ns=[100, 500], time_gaps=[(150, 250)])
    verdict = by_check(check_stream("c", published(ids, times), narrow))["no unreported loss"]
    assert not verdict.ok and verdict.evidence["lost"] == 2  # 300 and 400 are outside the window
    # Without the published messages' exchange times a gap by time places nothing: the loss stays a loss.
    unknown = by_check(check_stream("c", published(ids), reported))["no unreported loss"]
    assert not unknown.ok and unknown.evidence["lost"] == 3


def test_a_gap_by_time_that_claims_a_delivered_message_is_not_exact() -> None:
    ids = [1, 2, 3]
    wrong = Delivered(ids=[1, 2, 3], exchange_ns=[100, 200, 300], time_gaps=[(100, 300)])
    verdict = by_check(check_stream("s", published(ids, [100, 200, 300]), wrong))["gaps exact"]
    assert not verdict.ok and verdict.evidence["wrong_gaps"] == [(100, 300)]
    ends_only = Delivered(ids=[1, 3], exchange_ns=[100, 300], time_gaps=[(100, 300)])
    assert by_check(check_stream("s", published(ids, [100, 200, 300]), ends_only))["gaps exact"].ok


def test_delivered_streams_maps_keys_and_reads_gaps_by_time() -> None:
    events = [
        FeedEventRow(type="market", venue="a", stream="trades.IBM", id=4, exchange_ns=10, data={"x": "Q"}),
        FeedEventRow(type="market", venue="a", stream="quotes.IBM", id=None, exchange_ns=11, data={}),
        FeedEventRow(type="gap", venue="a", stream="quotes.IBM", detail={"from_ns": 20, "to_ns": 30}),
        FeedEventRow(type="gap", venue="a", stream="news.*", detail={"from_ns": None, "to_ns": 40}),
        FeedEventRow(type="gap", venue="b", stream="trade", first_id=3, id=5),
    ]
    run = RunData(t0_ns=0, venues={}, events=events, books={}, stats={})
    run.venues["a"] = VenueRun("a", "alpaca", [], {}, set(), VenueHistory(), VenueHistory())
    run.venues["b"] = VenueRun("b", "binance-spot", [], {}, set(), VenueHistory(), VenueHistory())
    got = delivered_streams(events, history_keys(run))
    assert got[("a", "trades.IBM")].ids == [ord("Q") * K + 4]
    assert got[("a", "trades.IBM")].exchange_ns == [10]
    assert ("a", "quotes.IBM") in got and got[("a", "quotes.IBM")].ids == []
    assert got[("a", "quotes.IBM")].time_gaps == [(20, 30)] and got[("a", "quotes.IBM")].gaps == []
    assert got[("a", "news.*")].time_gaps == [(0, 40)]  # an open start counts from the beginning
    assert got[("b", "trade")].gaps == [(3, 5)] and got[("b", "trade")].time_gaps == []


def test_rebase_offset_is_the_most_common_difference() -> None:
    assert rebase_offset([]) is None
    assert rebase_offset([(1_100, 100), (1_200, 200), (5_000, 300)]) == 1_000


def test_a_gap_by_time_without_an_end_claims_everything_after_its_start() -> None:
    events = [FeedEventRow(type="gap", venue="a", stream="s", detail={"from_ns": 200, "to_ns": None})]
    window = delivered_streams(events)[("a", "s")].time_gaps[0]
    ids = [3, 1, 2]  # not increasing: judged in publishing order
    got = Delivered(ids=[3], exchange_ns=[100], time_gaps=[window])
    assert by_check(check_stream("s", published(ids, [100, 200, 10**18]), got))["no unreported loss"].ok
    early = Delivered(ids=[3], exchange_ns=[100], time_gaps=[(300, window[1])])
    assert not by_check(check_stream("s", published(ids, [100, 200, 10**18]), early))["no unreported loss"].ok


def test_a_fault_on_one_venue_leaves_the_other_venues_latency_judged() -> None:
    ms = 1_000_000
    alpaca_down = FaultWindow("proxy_down ws", start_ns=1_000 * ms, end_ns=2_000 * ms, venue="alpaca")
    samples = [
        LiveLatency(1_500 * ms, 3 * ms, "trade", "binance"),  # during Alpaca's fault: judged
        LiveLatency(1_500 * ms, 900 * ms, "trade", "alpaca"),  # during its own fault: not judged
        LiveLatency(2_500 * ms, 4 * ms, "trade", "alpaca"),  # inside the grace after it: not judged
        LiveLatency(3_500 * ms, 5 * ms, "trade", "alpaca"),  # after the grace: judged
    ]
    judged = judged_latencies(samples, [alpaca_down], primary="binance", grace_s=1.0)
    assert judged == {"trade": [3 * ms, 5 * ms]}
    # A fault with no venue is on the primary, and "*" is on every venue.
    on_primary = FaultWindow("proxy_down ws", start_ns=1_000 * ms, end_ns=2_000 * ms)
    assert judged_latencies(samples[:1], [on_primary], primary="binance", grace_s=1.0) == {}
    everywhere = FaultWindow("venue pause", start_ns=1_000 * ms, end_ns=2_000 * ms, venue="*")
    assert judged_latencies(samples, [everywhere], primary="binance", grace_s=1.0) == {"trade": [5 * ms]}
