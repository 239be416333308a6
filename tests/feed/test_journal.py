"""The delivery journal a restarted feed resumes from (schema 2, and schema 1 read or refused clearly),
and the engine picking up after it."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from feed import registry
from feed.adapter import BackfillRequest
from feed.engine import VenueEngine
from feed.events import HEADER_LINE, FeedEvent, to_json_line
from feed.journal import (
    JournalError,
    last_ids,
    open_for_append,
    read_journal,
    resume_point,
    truncate_torn_tail,
)
from harness.feed_history import HistoryError, read_feed_history


def event(kind: str, stream: str, ident: int, first: int | None = None, venue: str = "binance-spot") -> bytes:
    return to_json_line(FeedEvent(type=kind, venue=venue, stream=stream, id=ident, first_id=first))


def test_last_ids_takes_the_highest_delivered_or_lost_id_per_venue_and_stream(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(
        HEADER_LINE
        + event("market", "btcusdt@trade", 10)
        + event("market", "btcusdt@trade", 11)
        + event("gap", "btcusdt@trade", 15, first=12)
        + event("market", "btcusdt@trade", 7, venue="spot-b")  # the same stream of another venue
        + event("market", "btcusdt@depth", 900, first=890)
        + event("stale", "btcusdt@depth", 999)  # state events do not move the position
        + b"not json at all\n"
        + event("market", "btcusdt@trade", 16)[:-10]  # torn by the kill: never delivered
    )
    assert last_ids(path) == {
        ("binance-spot", "btcusdt@trade"): 15,
        ("spot-b", "btcusdt@trade"): 7,
        ("binance-spot", "btcusdt@depth"): 900,
    }
    assert last_ids(tmp_path / "missing.jsonl") == {}


V1_LINES = (
    b'{"type":"trade","venue":"binance-spot","symbol":"BTCUSDT","stream":"btcusdt@trade","id":10,'
    b'"first_id":null,"recv_ns":5,"deliver_ns":6,"exchange_ms":1,"backfilled":false,"data":null,"detail":null}\n'
    b'{"type":"gap","venue":"binance-spot","symbol":"BTCUSDT","stream":"btcusdt@depth@100ms","id":20,'
    b'"first_id":15,"recv_ns":7,"deliver_ns":8,"detail":{"reason":"x","count":6}}\n'
    b'{"type":"connection","venue":"binance-spot","recv_ns":9,"deliver_ns":9,"detail":{"state":"connected"}}\n'
)


def test_a_schema_1_journal_is_read_as_schema_2(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_bytes(V1_LINES)
    trade, gap, conn = read_journal(path)
    assert (trade.type, trade.channel, trade.kind, trade.instrument) == (
        "market",
        "trade",
        "trade",
        "binance-spot:BTCUSDT",
    )
    assert (gap.type, gap.channel, gap.kind, gap.first_id, gap.id) == ("gap", "book", "depth", 15, 20)
    assert (conn.type, conn.channel) == ("connection", "status")
    assert last_ids(path) == {
        ("binance-spot", "btcusdt@trade"): 10,
        ("binance-spot", "btcusdt@depth@100ms"): 20,
    }


def test_a_feed_refuses_to_append_to_a_schema_1_journal(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_bytes(V1_LINES)
    with pytest.raises(JournalError, match=r"old\.jsonl: written with events schema 1.*move the old journal"):
        open_for_append(path)
    assert path.read_bytes() == V1_LINES  # untouched


def test_a_newer_or_foreign_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"type":"schema","schema":"tickstorm.events","version":9}\n')
    with pytest.raises(JournalError, match="schema version 9 is newer"):
        list(read_journal(path))
    path.write_bytes(b'{"type":"schema","schema":"other","version":2}\n')
    with pytest.raises(JournalError, match="not a tickstorm events journal"):
        list(read_journal(path))


def test_the_harness_reads_schema_2_only_and_says_so(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_bytes(HEADER_LINE + event("market", "btcusdt@trade", 10) + event("market", "s", 11)[:-3])
    assert [(e.type, e.id) for e in read_feed_history(good)] == [("market", 10)]  # torn tail left out
    old = tmp_path / "old.jsonl"
    old.write_bytes(V1_LINES)
    with pytest.raises(HistoryError, match=r"expected the tickstorm\.events schema header, version 2"):
        list(read_feed_history(old))


def test_an_empty_journal_gets_the_header_before_appends(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"type":"sche')  # killed while writing the header
    open_for_append(path)
    assert path.read_bytes() == HEADER_LINE


def test_torn_tail_is_cut_so_appends_start_on_their_own_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    whole = event("market", "s", 1) + event("market", "s", 2)
    path.write_bytes(whole + b'{"type":"tra')
    truncate_torn_tail(path)
    assert path.read_bytes() == whole
    truncate_torn_tail(path)  # nothing torn: unchanged
    assert path.read_bytes() == whole
    path.write_bytes(b'{"type":"tra')
    truncate_torn_tail(path)
    assert path.read_bytes() == b""


def trade(ident: int) -> bytes:
    data = {"e": "trade", "E": 1, "s": "BTCUSDT", "t": ident, "p": "1.0", "q": "1.0", "T": 1, "m": False}
    return orjson.dumps({"stream": "btcusdt@trade", "data": {**data, "M": True}})


def test_resumed_engine_backfills_what_it_missed_and_redelivers_nothing() -> None:
    adapter = registry.adapter("binance-spot")
    engine = VenueEngine("binance-spot", adapter)
    spec = adapter.parse_stream("btcusdt@trade")
    assert spec is not None
    engine.watch([spec], 0)
    engine.resume({"btcusdt@trade": 100})
    engine.receive_frame(trade(99), 1)  # already delivered before the crash
    engine.receive_frame(trade(100), 2)
    assert [e.id for e in engine.events_received() if e.is_market] == []
    engine.receive_frame(trade(104), 3)  # 101..103 were sent while the feed was down
    engine.tick(10**9)
    assert engine.requests_to_send() == [BackfillRequest("btcusdt@trade", 101, 103)]
    assert engine.counters.duplicates == 2


def test_a_resumed_stream_the_venue_could_not_confirm_rebases_on_a_first_live_id_below_the_journal() -> None:
    """No REST answer for the stream: the first live message shows the journal is ahead (10x here); the
    stream continues from the venue's ids and a rebase gap says so, instead of dropping everything."""
    adapter = registry.adapter("binance-spot")
    engine = VenueEngine("binance-spot", adapter)
    spec = adapter.parse_stream("btcusdt@trade")
    assert spec is not None
    engine.watch([spec], 0)
    engine.resume({"btcusdt@trade": 1000}, unverified=["btcusdt@trade"])
    for ident in (101, 102, 103):
        engine.receive_frame(trade(ident), ident)
    events = engine.events_received()
    (gap,) = [e for e in events if e.type == "gap"]
    assert gap.detail is not None and gap.detail["rebase"] and gap.detail["journal_id"] == 1000
    assert gap.id == 100
    assert [e.id for e in events if e.is_market] == [101, 102, 103]
    assert engine.counters.duplicates == 0


def test_resume_point_refuses_garbage_and_going_back_and_skips_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b"\x00\xffnoise\n" + event("market", "btcusdt@trade", 1))
    with pytest.raises(JournalError, match=rf"^{path}:1: no events journal header"):
        resume_point(path)
    path.write_bytes(HEADER_LINE + event("market", "btcusdt@trade", 5) + b"{not json\n")
    with pytest.raises(JournalError, match=rf"^{path}:3: not a journal event"):
        resume_point(path)
    path.write_bytes(HEADER_LINE + event("market", "btcusdt@trade", 5) + event("market", "btcusdt@trade", 4))
    with pytest.raises(JournalError, match=rf"^{path}:3: id 4 of binance-spot btcusdt@trade goes back"):
        resume_point(path)
    path.write_bytes(HEADER_LINE + event("market", "btcusdt@trade", 5) + b'{"type":"mar')
    point = resume_point(path)
    assert (
        point.ids == {("binance-spot", "btcusdt@trade"): 5}
        and point.where("binance-spot", "btcusdt@trade") == f"{path}:2"
    )
