"""Static mode: a recording through the feed pipeline with no sockets, deterministic to the byte."""

from __future__ import annotations

import io
import os
from pathlib import Path

import orjson

from feed.static import run_static
from mock_venues.recordings import bundled

GOLDEN = Path(__file__).parent / "golden" / "spot-4sym-2021.events.jsonl"


def run_once() -> bytes:
    out = io.BytesIO()
    run_static(bundled("spot-4sym-2021"), out)
    return out.getvalue()


def test_static_output_is_deterministic_and_matches_the_golden_file() -> None:
    first, second = run_once(), run_once()
    assert first == second
    if os.environ.get("TICKSTORM_UPDATE_GOLDEN"):
        GOLDEN.write_bytes(first)
    assert first == GOLDEN.read_bytes(), (
        "static output changed; review and re-run with TICKSTORM_UPDATE_GOLDEN=1"
    )


def test_static_run_delivers_every_recorded_id_and_syncs_every_book() -> None:
    header, *events = [orjson.loads(line) for line in run_once().splitlines()]
    assert header == {"type": "schema", "schema": "tickstorm.events", "version": 2}
    depth = [e for e in events if e["type"] == "market" and e["kind"] == "depth" and e["symbol"] == "NKNUSDT"]
    assert {e["instrument"] for e in depth} == {"binance-spot:NKNUSDT"} and {e["channel"] for e in depth} == {
        "book"
    }
    assert len(depth) == 150 and [e["id"] for e in depth] == sorted(e["id"] for e in depth)
    resynced = {e["symbol"] for e in events if e["type"] == "book_resynced"}
    assert resynced == {"NKNUSDT", "LRCBTC", "BLZETH", "RUNEEUR"}
    assert not [e for e in events if e["type"] == "gap"]


def test_static_run_of_the_day_split_capture(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    with out.open("wb") as fh:
        result = run_static(bundled("spot-btcusdt"), fh, streams=["btcusdt@trade", "btcusdt@depth@100ms"])
    assert result.frames == 9757 + 10147 + 3451 + 3044
    assert result.by_type.get("gap", 0) == 0 and result.by_type["book_resynced"] == 1
    assert result.by_type["market"] == 9757 + 10147 + 3451 + 3044
    lines = out.read_bytes().splitlines()
    trades = [x for x in lines if b'"type":"market"' in x and b'"kind":"trade"' in x]
    assert len(trades) == 9757 + 10147
