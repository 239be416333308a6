"""A recording that cannot be replayed stops ``tickstorm venue`` and ``tickstorm feed --static`` with one
line naming the file (and the line), exit 2, no traceback."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.cli.support import BUNDLED, assert_one_line_error, tickstorm


def good_lines(n: int = 60) -> list[bytes]:
    """The first ``n`` lines of a bundled Binance spot recording."""
    with gzip.open(BUNDLED, "rb") as fh:
        return [fh.readline() for _ in range(n)]


def not_gzip(tmp: Path) -> tuple[Path, str]:
    path = tmp / "plain.norm.jsonl.gz"
    path.write_bytes(b"".join(good_lines()))
    return path, f"{path}: cannot read"


def truncated(tmp: Path) -> tuple[Path, str]:
    whole = gzip.compress(b"".join(good_lines()))
    path = tmp / "cut.norm.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    return path, f"{path}: cannot read"


def empty(tmp: Path) -> tuple[Path, str]:
    path = tmp / "empty.norm.jsonl"
    path.write_bytes(b"")
    return path, f"{path}: empty recording"


def empty_gzip(tmp: Path) -> tuple[Path, str]:
    path = tmp / "empty.norm.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n\n"))
    return path, f"{path}: empty recording"


def malformed_line(tmp: Path) -> tuple[Path, str]:
    lines = good_lines()
    lines[2] = lines[2][:40] + b"\n"  # cut mid-object: line 3 is not JSON
    path = tmp / "torn.norm.jsonl"
    path.write_bytes(b"".join(lines))
    return path, f"{path}:3: not JSON"


def not_an_object(tmp: Path) -> tuple[Path, str]:
    path = tmp / "array.norm.jsonl"
    path.write_bytes(b"".join(good_lines(3)) + b"[1, 2]\n")
    return path, f"{path}:4: expected a JSON object"


CASES: dict[str, Callable[[Path], tuple[Path, str]]] = {
    "not gzip": not_gzip,
    "truncated gzip": truncated,
    "empty": empty,
    "only blank lines, gzipped": empty_gzip,
    "a line that is not JSON": malformed_line,
    "a line that is not an object": not_an_object,
}


@pytest.mark.parametrize("case", CASES)
def test_venue_reports_a_bad_recording_in_one_line(tmp_path: Path, case: str) -> None:
    path, expected = CASES[case](tmp_path)
    outcome = tickstorm("venue", "binance-spot", "--recording", path)
    assert expected in assert_one_line_error(outcome, path)


@pytest.mark.parametrize("case", CASES)
def test_static_feed_reports_a_bad_recording_in_one_line(tmp_path: Path, case: str) -> None:
    path, expected = CASES[case](tmp_path)
    outcome = tickstorm("feed", "--static", path)
    assert expected in assert_one_line_error(outcome, path)


def test_venue_reports_a_malformed_snapshot_in_one_line(tmp_path: Path) -> None:
    """A REST depth snapshot without asks (it used to end in a KeyError traceback building the book)."""
    snapshot = {
        "src": "rest",
        "ts": 1723161253.5,
        "url": "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000",
        "data": {"lastUpdateId": 50093239000, "bids": [["61737.63000000", "1.00000000"]]},
    }
    path = tmp_path / "snap.norm.jsonl"
    path.write_bytes(orjson.dumps(snapshot) + b"\n" + b"".join(good_lines()))
    outcome = tickstorm("venue", "binance-spot", "--recording", path)
    assert "malformed snapshot payload" in assert_one_line_error(outcome, f"{path}:1")
