"""Books across a dropped connection: snapshots are taken only once the stream is subscribed again.

A snapshot fetched while the stream is down (REST back before the WebSocket) cannot be bridged by the updates
that follow, so it buys a second resync; with 200 books on a 3000-weight REST budget that second round was
what left the last books unsynced after an outage on a loaded machine.
"""

from __future__ import annotations

import orjson

from feed import registry
from feed.adapter import SnapshotRequest
from feed.engine import QUIET_RECHECK_NS, VenueEngine

STREAM = "btcusdt@depth@100ms"
S = 1_000_000_000


def diff(first: int, last: int) -> bytes:
    data = {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": first, "u": last, "b": [["1.0", "2"]], "a": []}
    return orjson.dumps({"stream": STREAM, "data": data})


def snapshot(last_update_id: int) -> dict[str, object]:
    return {"lastUpdateId": last_update_id, "bids": [["1.0", "1"]], "asks": [["2.0", "1"]]}


def synced_engine() -> VenueEngine:
    adapter = registry.adapter("binance-spot")
    engine = VenueEngine("binance-spot", adapter)
    spec = adapter.parse_stream(STREAM)
    assert spec is not None
    engine.watch([spec], 0)
    engine.receive_frame(diff(10, 12), 1)
    assert engine.requests_to_send() == [SnapshotRequest(STREAM)]
    engine.receive_snapshot(STREAM, snapshot(11), 2)
    assert engine.books["BTCUSDT"].sync.synced
    engine.events_received()
    return engine


def test_a_quiet_book_is_not_rebuilt_while_its_stream_is_down() -> None:
    engine = synced_engine()
    engine.interrupted([STREAM], 1 * S)
    engine.tick(1 * S + 10 * QUIET_RECHECK_NS)  # long outage: still no snapshot, the stream is not live
    assert engine.requests_to_send() == []
    assert engine.books["BTCUSDT"].sync.synced


def test_the_quiet_recheck_counts_from_the_resubscribe_not_the_drop() -> None:
    engine = synced_engine()
    engine.interrupted([STREAM], 1 * S)
    back = 1 * S + 5 * QUIET_RECHECK_NS
    engine.subscribed([STREAM], back)
    engine.tick(back + QUIET_RECHECK_NS - 1)
    assert engine.requests_to_send() == []
    engine.tick(back + QUIET_RECHECK_NS)
    assert engine.requests_to_send() == [SnapshotRequest(STREAM)]
    assert not engine.books["BTCUSDT"].sync.synced


def test_an_update_after_the_resubscribe_that_bridges_keeps_the_book() -> None:
    engine = synced_engine()
    engine.interrupted([STREAM], 1 * S)
    engine.subscribed([STREAM], 2 * S)
    engine.receive_frame(diff(13, 15), 2 * S + 1)
    engine.tick(2 * S + 2 * QUIET_RECHECK_NS)
    assert engine.requests_to_send() == []
    assert engine.books["BTCUSDT"].sync.last_update_id() == 15


def test_a_snapshot_wanted_while_down_is_asked_for_on_the_resubscribe() -> None:
    engine = synced_engine()
    engine.receive_frame(diff(20, 21), 3)  # a gap: the book wants a snapshot...
    assert engine.requests_to_send() == [SnapshotRequest(STREAM)]
    engine.snapshot_failed(STREAM, "REST down", 4)
    engine.interrupted([STREAM], 5)  # ...and the connection drops before the retry
    engine.tick(10 * S)
    assert engine.requests_to_send() == []  # no snapshot for a stream that is not flowing
    engine.subscribed([STREAM], 11 * S)
    assert engine.requests_to_send() == [SnapshotRequest(STREAM)]
