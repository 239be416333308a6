"""Fuzz: the readers of files that come from elsewhere: recordings (tickstorm/recording.py) and the feed's
delivery journal (feed/journal.py).

Valid outcome of a recording: its records, or a :class:`RecordingError` naming the file. Valid outcome of
a journal: its events / last ids, or a :class:`JournalError`, or (``read_journal`` without
``skip_malformed``, as documented) a ``msgspec.DecodeError``; ``last_ids`` skips malformed lines.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from feed.events import HEADER_LINE, SCHEMA
from feed.journal import JournalError, last_ids, read_journal
from tests.fuzz import support
from tests.fuzz.support import FUZZ
from tickstorm.recording import SOURCES, Record, RecordingError, read_recording

pytestmark = pytest.mark.fuzz


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each example's file is written (overwritten by the next)."""
    return tmp_path_factory.mktemp("fuzz-files")


def _lines(docs: list[bytes], newline_at_end: bool) -> bytes:
    body = b"\n".join(docs)
    return body + b"\n" if newline_at_end else body


# -- recordings -------------------------------------------------------------------------------------

RECORD_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "ts": st.floats(0, 2e9) | support.FLOATS | support.HUGE_INTS | support.JSON_VALUES,
    "recv_ns": st.integers(0, 2**63) | support.HUGE_INTS | support.JSON_VALUES,
    "src": st.sampled_from(SOURCES) | support.JSON_VALUES,
    "stream": st.sampled_from(["btcusdt@trade", "btcusdt@depth@100ms"]) | support.JSON_VALUES,
    "data": support.JSON_VALUES,
    "url": st.sampled_from(["https://api.binance.com/api/v3/depth?symbol=BTCUSDT"]) | support.JSON_VALUES,
}
RECORDED_LINES = st.sampled_from(support.recorded_lines()).map(bytes.rstrip)
RECORD_LINES = st.one_of(
    st.fixed_dictionaries({}, optional=RECORD_FIELDS).map(support.to_json),
    RECORDED_LINES,
    support.mutations(RECORDED_LINES),
    support.JSON_VALUES.map(support.to_json),
    support.DEEP,
    st.binary(max_size=100),
)
CONTAINERS = st.sampled_from(["plain", "gzip", "gzip-truncated", "not-gzip"])


def _write_recording(workdir: Path, body: bytes, container: str, cut: int) -> Path:
    if container == "plain":
        path = workdir / "fuzz.norm.jsonl"
        path.write_bytes(body)
        return path
    path = workdir / "fuzz.norm.jsonl.gz"
    packed = gzip.compress(body, compresslevel=1, mtime=0)
    if container == "gzip-truncated":
        packed = packed[: cut % (len(packed) + 1)]
    elif container == "not-gzip":
        packed = body
    path.write_bytes(packed)
    return path


@given(
    lines=st.lists(RECORD_LINES, max_size=8),
    newline_at_end=st.booleans(),
    container=CONTAINERS,
    cut=st.integers(0, 1 << 16),
)
@FUZZ
@example(lines=[b'{"src":"ws","ts":1e308}'], newline_at_end=True, container="plain", cut=0)
@example(lines=[b'{"src":"ws","ts":' + b"9" * 400 + b"}"], newline_at_end=True, container="plain", cut=0)
def test_recording_reader_yields_records_or_a_recording_error(
    workdir: Path, lines: list[bytes], newline_at_end: bool, container: str, cut: int
) -> None:
    support.tried("recording reader")
    path = _write_recording(workdir, _lines(lines, newline_at_end), container, cut)
    try:
        records = list(read_recording(path))
    except RecordingError as exc:
        assert str(path) in str(exc)
        return
    for record in records:
        assert isinstance(record, Record) and record.src in SOURCES
        assert record.time_ns is None or isinstance(record.time_ns, int)


# -- journals ---------------------------------------------------------------------------------------

JOURNAL_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(["market", "gap", "trade", "depth", "connection", "schema"])
    | support.JSON_VALUES,
    "venue": st.sampled_from(["binance-spot", ""]) | support.JSON_VALUES,
    "stream": st.sampled_from(["btcusdt@trade", "btcusdt@depth@100ms", "btcusdt@kline_1m"])
    | support.JSON_VALUES,
    "symbol": st.sampled_from(["BTCUSDT"]) | support.JSON_VALUES,
    "id": st.integers(-1, 2**63) | support.HUGE_INTS | support.JSON_VALUES,
    "first_id": st.integers() | support.JSON_VALUES,
    "recv_ns": st.integers(0, 2**63) | support.JSON_VALUES,
    "detail": support.JSON_VALUES,
    "data": support.JSON_VALUES,
}
HEADERS = st.one_of(
    st.just(HEADER_LINE.rstrip()),
    st.fixed_dictionaries(
        {"type": st.just("schema")},
        optional={
            "schema": st.just(SCHEMA) | support.JSON_VALUES,
            "version": st.integers(0, 3) | support.JSON_VALUES,
        },
    ).map(support.to_json),
    support.mutations(st.just(HEADER_LINE.rstrip())),
)
JOURNAL_LINES = st.one_of(
    st.fixed_dictionaries({}, optional=JOURNAL_FIELDS).map(support.to_json),
    support.JSON_VALUES.map(support.to_json),
    support.DEEP,
    st.binary(max_size=100),
)


@given(
    header=st.none() | HEADERS,
    lines=st.lists(JOURNAL_LINES, max_size=8),
    newline_at_end=st.booleans(),
    skip_malformed=st.booleans(),
)
@FUZZ
@example(header=None, lines=[b"[" * 5000 + b"]" * 5000], newline_at_end=True, skip_malformed=True)
@example(
    header=None,
    lines=[b'{"type":"gap","x":' + b"[" * 5000 + b"]" * 5000 + b"}"],
    newline_at_end=True,
    skip_malformed=True,
)
def test_journal_reader_yields_events_or_a_documented_error(
    workdir: Path, header: bytes | None, lines: list[bytes], newline_at_end: bool, skip_malformed: bool
) -> None:
    support.tried("journal reader")
    path = workdir / "journal.jsonl"
    path.write_bytes(_lines([header, *lines] if header is not None else lines, newline_at_end))
    try:
        ids = last_ids(path)
    except JournalError as exc:
        assert str(path) in str(exc)
    else:
        assert all(isinstance(v, int) for v in ids.values())
    try:
        events = list(read_journal(path, skip_malformed=skip_malformed))
    except JournalError as exc:
        assert str(path) in str(exc)
    except msgspec.DecodeError:
        assert not skip_malformed
    else:
        assert all(event.type != "schema" for event in events)
