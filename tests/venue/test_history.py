"""VenueHistory: columnar append, queries, round trip through a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_venues.base.history import SendFlag, VenueHistory


def make_history() -> VenueHistory:
    h = VenueHistory()
    trade = h.stream_id("btcusdt@trade")
    depth = h.stream_id("btcusdt@depth")
    h.record_send(1, trade, 100, 1_000, 1_500)
    h.record_send(1, depth, 7, 1_000, 1_600)
    h.record_send(2, trade, 100, 1_000, 1_700)
    h.record_send(1, trade, 101, 2_000, 2_100)
    h.record_send(1, trade, 101, 2_000, 2_200, SendFlag.DUPLICATE)
    h.record_event(3_000, "fault", kind="drop", stream="btcusdt@trade")
    return h


def test_stream_ids_are_stable() -> None:
    h = VenueHistory()
    assert h.stream_id("a") == 0
    assert h.stream_id("b") == 1
    assert h.stream_id("a") == 0
    assert h.streams == ["a", "b"]


def test_ids_per_stream_and_connection_skip_duplicates() -> None:
    h = make_history()
    assert h.ids("btcusdt@trade", connection=1) == [100, 101]
    assert h.ids("btcusdt@trade", connection=1, normal_only=False) == [100, 101, 101]
    assert h.ids("btcusdt@trade", connection=2) == [100]
    assert h.ids("btcusdt@depth") == [7]
    assert h.ids("nosuch@trade") == []


def test_lateness_and_summary() -> None:
    h = make_history()
    assert list(h.lateness_ns()) == [500, 600, 700, 100, 200]
    summary = h.summary()
    assert summary["sent"] == 5
    assert summary["per_stream"] == {"btcusdt@trade": 4, "btcusdt@depth": 1}
    assert summary["per_connection"] == {"1": 4, "2": 1}
    assert summary["events"] == {"fault": 1}


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    h = make_history()
    path = tmp_path / "history.json"
    h.dump(path)
    loaded = VenueHistory.load(path)
    assert list(loaded.rows()) == list(h.rows())
    assert loaded.events == h.events


def test_load_rejects_other_documents(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a tickstorm venue history"):
        VenueHistory.load(path)
