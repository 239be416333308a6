"""The Alpaca market model: times rebased to the send time, bars on the minute their trades were sent in,
crypto books from the snapshot with older diffs skipped, JSON frames transcoded once per message."""

from __future__ import annotations

from typing import Any

import orjson

from mock_venues.alpaca.model import AlpacaModel
from mock_venues.replay.records import Recorded

MIN = 60 * 10**9
REC = 1_381_152_600 * 10**9  # recorded 09:30:00 ET


def _rec(stream: str, msg: dict[str, Any], venue_id: int, recorded: int) -> Recorded:
    return Recorded(0, msg.get("S", ""), stream, msg["T"], {**msg, "_r": recorded}, venue_id)


def test_times_are_rebased_and_bars_take_the_minute_of_their_first_trade() -> None:
    model = AlpacaModel()
    model.wall_minus_mono_ns = 0  # wall time == the intended (monotonic) time given below
    send = 1_800_000_000 * 10**9 + 30 * 10**9  # a minute boundary + 30 s
    trade = {"T": "t", "S": "IBM", "i": 1, "x": "N", "p": 1.0, "s": 1, "c": ["@"], "z": "A", "t": REC + 5}
    applied = model.apply(_rec("trades.IBM", trade, 7, REC + 5), send)
    assert applied is not None and applied[0] == 7 and applied[1]["t"] == send
    assert "_r" not in applied[1]
    bar = {"T": "b", "S": "IBM", "o": 1.0, "h": 1.0, "l": 1.0, "c": 1.0, "v": 1, "t": REC, "n": 1, "vw": 1.0}
    out = model.apply(_rec("bars.IBM", bar, 1, REC + MIN + 1), send + 50 * 10**9)
    assert out is not None and out[1]["t"] == send - 30 * 10**9  # the minute the trade went out in
    assert [m["i"] for m in model.trades["IBM"].items] == [1]
    assert model.trades["IBM"].window(send, send) == [applied[1]]


def test_crypto_book_skips_diffs_the_snapshot_holds_and_sends_json_once() -> None:
    model = AlpacaModel(
        initial_snapshot=lambda s: {"lastUpdateId": 10, "bids": [["100", "1"]], "asks": [["101", "2"]]}
    )
    old = {"T": "o", "S": "BTC/USD", "t": REC, "b": [{"p": 100.0, "s": 0.0}], "a": []}
    assert model.apply(_rec("orderbooks.BTC/USD", old, 10, REC), 0) is None
    new = {"T": "o", "S": "BTC/USD", "t": REC, "b": [{"p": 99.0, "s": 3.0}], "a": [{"p": 101.0, "s": 0.0}]}
    applied = model.apply(_rec("orderbooks.BTC/USD", new, 11, REC), 0)
    assert applied is not None
    book = model.book("BTC/USD")
    assert book.bids == {100.0: 1.0, 99.0: 3.0} and book.asks == {}
    full = book.message("BTC/USD", 5)
    assert full["r"] is True and [lvl["p"] for lvl in full["b"]] == [100.0, 99.0]
    frame = model.encode(applied[1], 0)
    first = model.json_frame(frame)
    assert model.json_frame(frame) is first  # one transcoding per message, whatever the JSON sessions
    assert orjson.loads(first)[0]["b"] == [{"p": 99.0, "s": 3.0}]
    assert model.json_frame(b"\xc1garbage") == b"\xc1garbage"  # a corrupted frame goes out as it is
