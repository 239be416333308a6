"""The delivery journal a restarted feed resumes from, and the core picking up after it."""

from __future__ import annotations

from pathlib import Path

import orjson

from feed.binance_spot.core import BackfillRequest, FeedCore
from feed.events import FeedEvent, to_json_line
from feed.journal import last_ids, truncate_torn_tail


def event(kind: str, stream: str, ident: int, first: int | None = None) -> bytes:
    return to_json_line(FeedEvent(type=kind, venue="binance-spot", stream=stream, id=ident, first_id=first))


def test_last_ids_takes_the_highest_delivered_or_lost_id_per_stream(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(
        event("trade", "btcusdt@trade", 10)
        + event("trade", "btcusdt@trade", 11)
        + event("gap", "btcusdt@trade", 15, first=12)
        + event("depth", "btcusdt@depth", 900, first=890)
        + event("stale", "btcusdt@depth", 999)  # state events do not move the position
        + b"not json at all\n"
        + event("trade", "btcusdt@trade", 16)[:-10]  # torn by the kill: never delivered
    )
    assert last_ids(path) == {"btcusdt@trade": 15, "btcusdt@depth": 900}
    assert last_ids(tmp_path / "missing.jsonl") == {}


def test_torn_tail_is_cut_so_appends_start_on_their_own_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    whole = event("trade", "s", 1) + event("trade", "s", 2)
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


def test_resumed_core_backfills_what_it_missed_and_redelivers_nothing() -> None:
    delivered: list[FeedEvent] = []
    now = [0]
    core = FeedCore(emit=delivered.append, clock=lambda: now[0])
    core.watch(["btcusdt@trade"], 0)
    core.resume({"btcusdt@trade": 100})
    core.on_frame(trade(99), 1)  # already delivered before the crash
    core.on_frame(trade(100), 2)
    assert [e.id for e in delivered if e.is_market] == []
    core.on_frame(trade(104), 3)  # 101..103 were sent while the feed was down
    now[0] = 10**9
    core.tick(now[0])
    assert list(core.requests) == [BackfillRequest("btcusdt@trade", "BTCUSDT", "trade", 101, 103)]
    assert core.duplicates == 2
