"""ReplaySource over the bundled recordings (and the larger shared set when it is there)."""

from __future__ import annotations

import gzip
import itertools
import re
import tracemalloc
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from feed.binance_spot.book_sync import BookSync, Step
from mock_venues.binance_spot.book import TrueBook
from mock_venues.binance_spot.tape import FANOUT_ID_STRIDE, LOOP_RESTART, binance_source
from mock_venues.recordings import (
    BUNDLED,
    BUNDLED_FORMATS,
    bundled,
    shared_recordings_dir,
    shared_stream_recordings,
)
from mock_venues.replay.records import Recorded, RecordingError
from mock_venues.replay.source import ReplaySource


def replay(source: ReplaySource, limit: int | None = None) -> list[Recorded]:
    out = []
    for rec in source:
        out.append(rec)
        if limit is not None and len(out) >= limit:
            break
    return out


def depth_by_symbol(records: list[Recorded]) -> dict[str, list[dict[str, Any]]]:
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        if rec.event == "depthUpdate":
            per[rec.symbol].append(rec.data)
    return per


def assert_contiguous(diffs: list[dict[str, Any]]) -> None:
    for prev, nxt in itertools.pairwise(diffs):
        assert nxt["U"] == prev["u"] + 1, (prev["u"], nxt["U"])


@pytest.mark.parametrize("name", sorted(n for n in BUNDLED if BUNDLED_FORMATS[n] == "binance"))
def test_every_bundled_set_replays_in_time_order(name: str) -> None:
    records = replay(binance_source(bundled(name)))
    offsets = [r.offset_ns for r in records]
    assert offsets == sorted(offsets)
    assert offsets[0] >= 0
    for diffs in depth_by_symbol(records).values():
        assert_contiguous(diffs)  # STATS.md: no gaps in any bundled capture


def test_counts_match_the_recording() -> None:
    source = binance_source(bundled("spot-4sym-2021"))
    counts: dict[str, int] = defaultdict(int)
    for rec in source:
        counts[rec.event] += 1
    assert dict(counts) == {"depthUpdate": 177, "bookTicker": 84, "aggTrade": 2, "kline": 2, "snapshot": 4}
    assert source.symbols == ["BLZETH", "LRCBTC", "NKNUSDT", "RUNEEUR"]
    assert "nknusdt@depth@100ms" in source.streams and "nknusdt@bookTicker" in source.streams


def test_day_split_files_are_one_capture_with_continuing_ids() -> None:
    source = binance_source(bundled("spot-btcusdt"))
    assert len(source.captures) == 1
    records = replay(source)
    diffs = depth_by_symbol(records)["BTCUSDT"]
    assert len(diffs) == 3451 + 3044
    assert_contiguous(diffs)
    trades = [r.data["t"] for r in records if r.event == "trade"]
    assert trades == list(range(trades[0], trades[0] + len(trades)))  # trade ids continue across midnight
    span_s = (records[-1].offset_ns - records[0].offset_ns) / 1e9
    assert 346 + 304 < span_s < 346 + 304 + 2  # no extra gap at the split


def test_separate_captures_start_together() -> None:
    source = binance_source(bundled("spot-4sym-2021") + bundled("spot-multi-2021"))
    assert len(source.captures) == 2
    first_by_symbol: dict[str, int] = {}
    for rec in source:
        first_by_symbol.setdefault(rec.symbol, rec.offset_ns)
    assert first_by_symbol["NKNUSDT"] < 2e9 and first_by_symbol["BTCUSDT"] < 2e9
    assert len(source.symbols) == 7


def test_initial_snapshot_is_the_recorded_rest_snapshot() -> None:
    source = binance_source(bundled("spot-4sym-2021"))
    snap = source.initial_snapshot("NKNUSDT")
    assert snap is not None and snap["lastUpdateId"] == 499869752
    assert source.initial_snapshot("XYZUSDT") is None


def test_derived_agg_trades_aggregate_every_recorded_trade() -> None:
    records = replay(binance_source(bundled("spot-btcusdt")), limit=30_000)
    trades = {r.data["t"]: r.data for r in records if r.event == "trade"}
    aggs = [r.data for r in records if r.event == "aggTrade"]
    assert aggs and all(r.stream == "btcusdt@aggTrade" for r in records if r.event == "aggTrade")
    assert [a["a"] for a in aggs] == list(range(aggs[0]["a"], aggs[0]["a"] + len(aggs)))
    covered = 0
    for agg in aggs:
        fills = [trades[t] for t in range(agg["f"], agg["l"] + 1)]
        assert {(f["p"], f["T"], f["m"]) for f in fills} == {(agg["p"], agg["T"], agg["m"])}
        assert Decimal(agg["q"]) == sum(Decimal(f["q"]) for f in fills)
        covered += len(fills)
    assert covered >= len(trades) - 5  # only aggregates still open at the cut are missing


def test_derivation_can_be_turned_off() -> None:
    source = binance_source(bundled("spot-btcusdt"), derive_agg_trades=False)
    assert "btcusdt@aggTrade" not in source.streams
    assert not any(r.event == "aggTrade" for r in replay(source, limit=5_000))


def test_fanout_clones_have_their_own_consistent_ids_and_books() -> None:
    source = binance_source(bundled("spot-4sym-2021"), fanout=3)
    assert len(source.symbols) == 12 and "NKNUSDTF002" in source.symbols
    assert "nknusdtf002@depth@100ms" in source.streams
    records = replay(source)
    per = depth_by_symbol(records)
    base, clone = per["NKNUSDT"], per["NKNUSDTF002"]
    assert len(base) == len(clone) == 150
    assert [d["u"] + 2 * FANOUT_ID_STRIDE for d in base] == [d["u"] for d in clone]
    assert {d["s"] for d in clone} == {"NKNUSDTF002"}
    snap = source.initial_snapshot("NKNUSDTF002")
    assert snap is not None and snap["lastUpdateId"] == 499869752 + 2 * FANOUT_ID_STRIDE
    sync = BookSync("NKNUSDTF002")
    for diff in clone:
        sync.on_diff(diff["U"], diff["u"], diff["b"], diff["a"])
        if diff is clone[0]:
            assert sync.apply_snapshot(snap["lastUpdateId"], snap["bids"], snap["asks"]) is Step.SYNCED
    truth = TrueBook("NKNUSDTF002")
    truth.load_snapshot(snap["lastUpdateId"], snap["bids"], snap["asks"])
    for diff in clone:
        truth.apply_diff(diff["U"], diff["u"], diff["b"], diff["a"])
    assert sync.book is not None and sync.book.top() == truth.levels()


def test_loop_keeps_ids_increasing_and_depth_contiguous() -> None:
    source = binance_source(bundled("spot-4sym-2021"), loop=True)
    one_pass = sum(1 for _ in binance_source(bundled("spot-4sym-2021")))
    restarts_per_loop = len(source.base_symbols)  # one loop-restart message per symbol with depth
    records = replay(source, limit=3 * one_pass + 2 * restarts_per_loop)
    offsets = [r.offset_ns for r in records]
    assert offsets == sorted(offsets)
    restarts = [i for i, r in enumerate(records) if r.event == LOOP_RESTART]
    assert len(restarts) == 2 * restarts_per_loop
    assert [records[i].data["loop"] for i in restarts] == [1] * 4 + [2] * 4
    assert restarts[:4] == list(range(one_pass, one_pass + 4))  # before the loop's first message
    diffs = depth_by_symbol(records)["NKNUSDT"]
    assert len(diffs) == 3 * 150
    assert_contiguous(diffs)
    aggs: dict[str, list[int]] = defaultdict(list)
    for rec in records:
        if rec.event == "aggTrade":
            aggs[rec.symbol].append(rec.data["a"])
    assert aggs and all(ids == sorted(set(ids)) and len(ids) % 3 == 0 for ids in aggs.values())


def test_loop_with_derived_aggregates_keeps_agg_and_trade_ids_increasing() -> None:
    source = binance_source(bundled("spot-btcusdt"), loop=True, symbols=["BTCUSDT"])
    one_pass = sum(1 for _ in binance_source(bundled("spot-btcusdt")))
    records = replay(source, limit=one_pass + 20_000)
    trades = [r.data["t"] for r in records if r.event == "trade"]
    assert trades == list(range(trades[0], trades[0] + len(trades)))
    aggs = [r.data for r in records if r.event == "aggTrade"]
    assert [a["a"] for a in aggs] == list(range(aggs[0]["a"], aggs[0]["a"] + len(aggs)))
    assert all(a["f"] <= a["l"] for a in aggs) and all(x["l"] < y["f"] for x, y in itertools.pairwise(aggs))


def _peak_per_window(records: list[Recorded], window_ns: int) -> int:
    best, start = 0, 0
    for end in range(len(records)):
        while records[end].offset_ns - records[start].offset_ns >= window_ns:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_amplify_compresses_bursts_but_keeps_quiet_gaps() -> None:
    plain = replay(binance_source(bundled("spot-10sym-2021")))
    fast = replay(binance_source(bundled("spot-10sym-2021"), amplify=4.0, burst_gap_ms=5.0))
    assert len(plain) == len(fast)
    assert [r.venue_id for r in plain] == [r.venue_id for r in fast]
    assert _peak_per_window(fast, 1_000_000) > _peak_per_window(plain, 1_000_000)
    for i in range(1, len(plain)):
        gap = plain[i].offset_ns - plain[i - 1].offset_ns
        new_gap = fast[i].offset_ns - fast[i - 1].offset_ns
        assert new_gap == (gap if gap >= 5_000_000 else int(gap / 4.0))


def test_symbol_filter() -> None:
    source = binance_source(bundled("spot-10sym-2021"), symbols=["zilusdt", "DENTUSDT"])
    assert source.symbols == ["DENTUSDT", "ZILUSDT"]
    assert {r.symbol for r in source} == {"DENTUSDT", "ZILUSDT"}
    with pytest.raises(ValueError, match="no replayable messages"):
        binance_source(bundled("spot-10sym-2021"), symbols=["NOPE"])


def test_reading_is_lazy() -> None:
    paths = bundled("spot-btcusdt")
    unpacked = 0
    for p in paths:
        with gzip.open(p) as fh:
            unpacked += len(fh.read())
    tracemalloc.start()
    try:
        count = sum(1 for _ in binance_source(paths))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count > 100_000
    assert peak < unpacked / 5, (peak, unpacked)


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_bytes(b"\n".join(x if isinstance(x, bytes) else orjson.dumps(x) for x in lines) + b"\n")
    return path


def test_trade_buyer_seller_ids_are_dropped(tmp_path: Path) -> None:
    trade = {
        "e": "trade",
        "E": 1,
        "s": "ABCUSDT",
        "t": 7,
        "p": "1.0",
        "q": "2.0",
        "b": 1,
        "a": 2,
        "T": 1,
        "m": True,
    }
    path = write_lines(
        tmp_path / "t.norm.jsonl", [{"ts": 1.0, "stream": "abcusdt@trade", "data": trade, "src": "ws"}]
    )
    (rec,) = [r for r in binance_source([path]) if r.event == "trade"]
    assert "b" not in rec.data and "a" not in rec.data and rec.data["t"] == 7


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{not json", "t.norm.jsonl:2: not JSON"),
        (b"[1,2]", "t.norm.jsonl:2: expected a JSON object"),
        (orjson.dumps({"ts": 2.0, "stream": "x@trade", "data": {"e": "trade"}, "src": "ws"}), "no symbol"),
        (
            orjson.dumps({"stream": "x@trade", "data": {"s": "X", "e": "trade"}, "src": "ws"}),
            "neither recv_ns nor ts",
        ),
        (orjson.dumps({"ts": 2.0, "stream": "x@trade", "data": {}, "src": "carrier-pigeon"}), "unknown src"),
    ],
)
def test_bad_recordings_get_a_clear_error(tmp_path: Path, line: bytes, message: str) -> None:
    good = {"ts": 1.0, "stream": "xusdt@bookTicker", "data": {"s": "XUSDT", "u": 1}, "src": "ws"}
    path = write_lines(tmp_path / "t.norm.jsonl", [good, line])
    with pytest.raises(RecordingError, match=message):
        binance_source([path])


def test_missing_file_and_bad_options(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        binance_source([tmp_path / "nope.jsonl"])
    with pytest.raises(ValueError, match="fanout"):
        binance_source(bundled("spot-4sym-2021"), fanout=0)
    with pytest.raises(ValueError, match="amplify"):
        binance_source(bundled("spot-4sym-2021"), amplify=0.5)
    with pytest.raises(ValueError, match="no recording files"):
        binance_source([])


SHARED = shared_recordings_dir()
SHARED_WS_FILES = shared_stream_recordings()


@pytest.mark.skipif(SHARED is None, reason="../shared/recordings not present (fresh clone): bundled set only")
@pytest.mark.parametrize("path", SHARED_WS_FILES, ids=lambda p: str(p.relative_to(SHARED)) if SHARED else "")
def test_every_shared_recording_replays_with_ids_as_recorded(path: Path) -> None:
    opener = gzip.open if path.suffix == ".gz" else open
    recorded: dict[str, list[int]] = defaultdict(list)
    with opener(path, "rb") as fh:
        for line in fh:
            obj = orjson.loads(line)
            if obj.get("src") == "ws" and obj["data"].get("e") == "depthUpdate":
                recorded[obj["data"]["s"]].append(obj["data"]["u"])
    replayed: dict[str, list[int]] = defaultdict(list)
    for rec in binance_source([path], derive_agg_trades=False):
        if rec.event == "depthUpdate":
            replayed[rec.symbol].append(rec.venue_id)
    assert replayed == recorded


SHARED_FUTURES = shared_stream_recordings("futures")


@pytest.mark.skipif(not SHARED_FUTURES, reason="../shared/recordings not present (fresh clone)")
@pytest.mark.parametrize("path", SHARED_FUTURES, ids=lambda p: p.name)
def test_shared_futures_captures_are_refused_by_the_spot_tape(path: Path) -> None:
    with pytest.raises(RecordingError, match=r"Binance futures record .*binance-spot venue replays spot"):
        binance_source([path])


DEPTH = {"e": "depthUpdate", "E": 2, "s": "BTCUSDT", "U": 5, "u": 6, "b": [], "a": []}
TICKER = {"u": 1, "s": "BTCUSDT", "b": "1", "B": "1", "a": "2", "A": "1"}
TRADE = {"e": "trade", "E": 1, "T": 1, "s": "BTCUSDT", "t": 5, "p": "1", "q": "1", "m": True}
FUTURES_RECORDS = [
    (
        {"ts": 1.0, "stream": "btcusdt@depth@0ms", "src": "ws",
         "data": {**DEPTH, "T": 2, "pu": 4}},
        "depth@0ms",
    ),
    (
        {"ts": 1.0, "stream": "btcusdt@depth@100ms", "src": "ws",
         "data": {**DEPTH, "pu": 4}},
        "with 'pu'",
    ),
    (
        {"ts": 1.0, "stream": "btcusdt@bookTicker", "src": "ws",
         "data": {**TICKER, "e": "bookTicker", "T": 1, "E": 1}},
        "bookTicker with an event type",
    ),
    (
        {"ts": 1.0, "stream": "btcusdt@trade", "src": "ws",
         "data": {**TRADE, "X": "MARKET"}},
        "order type 'X'",
    ),
    (
        {"ts": 1.0, "stream": None, "src": "rest", "url": "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT",
         "data": {"lastUpdateId": 1, "bids": [], "asks": []}},
        "USD-M futures REST",
    ),
    (
        {"ts": 1.0, "stream": None, "src": "rest", "url": "https://dapi.binance.com/dapi/v1/depth?symbol=BTCUSD_PERP",
         "data": {"lastUpdateId": 1, "bids": [], "asks": []}},
        "COIN-M futures REST",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("record", "reason"), FUTURES_RECORDS, ids=[r for _, r in FUTURES_RECORDS])
def test_each_futures_marker_is_refused_with_file_and_line(
    tmp_path: Path, record: dict[str, Any], reason: str
) -> None:
    good = {"ts": 0.5, "stream": "btcusdt@trade", "src": "ws", "data": {**TRADE, "t": 4}}
    path = write_lines(tmp_path / "f.norm.jsonl", [good, record])
    expected = rf"f\.norm\.jsonl:2: a Binance futures record .*{re.escape(reason)}"
    with pytest.raises(RecordingError, match=expected):
        binance_source([path])
