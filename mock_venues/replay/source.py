"""Recorded messages as one lazily read, time-ordered replay timeline (venue-neutral).

``ReplaySource(paths, tape, ...)`` reads normalized recordings (:mod:`tickstorm.recording`) line by line: a
recording is never held in memory. What a record means belongs to the recording's format, a
:class:`Tape` (``mock_venues/binance_spot/tape.py`` reads Binance-format recordings): which records are
timeline messages, their symbol, stream, event and id, what the pre-scan must learn (snapshots, id
ranges), how ids continue across loops and how a symbol is cloned.

Files whose spans touch (within ``CAPTURE_JOIN_NS``) are one capture and share one clock, like day-split
captures; separate captures are each aligned to offset 0 and merged, so recordings from different days
can drive one multi-symbol timeline. On top of the recorded timeline: messages the tape derives (Binance
aggregate trades where only trades were recorded), symbol fan-out (clones ``<SYMBOL>F001``...), loop
mode (ids keep increasing across loops; each later loop starts with the tape's restart messages, which
let the venue's model restart its state, e.g. a book from the first snapshot) and burst amplification
(gaps shorter than ``burst_gap_ms`` divided by ``amplify``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mock_venues.replay.records import Recorded, RecordingError
from tickstorm.recording import Record, read_recording

CAPTURE_JOIN_NS = 120 * 10**9  # files closer than this in time belong to one capture
LOOP_GAP_NS = 100_000_000  # pause between the end of one loop and the start of the next

Item = tuple[int, str, str, str, dict[str, Any]]
"""(receive time ns, symbol, stream, event, payload) of one timeline record."""


class Deriver(Protocol):
    """Messages a tape derives from recorded ones (one instance per replay, across loops)."""

    def derive(self, items: Iterator[Recorded]) -> Iterator[Recorded]:
        """The timeline with derived messages added (in time order)."""


class Tape(Protocol):
    """A recording format: how its records become timeline messages. Pure (no I/O of its own)."""

    def classify(self, record: Record) -> Item | None:
        """The timeline message a record is (None: not one, e.g. a connect record); RecordingError for a
        record this format cannot replay (the message names the file and line)."""

    def scan(self, item: Item, where: str) -> None:
        """Learn what the replay needs before it starts from one wanted timeline message."""

    def venue_id(self, event: str, data: dict[str, Any]) -> int:
        """The id a feed sequences a message by."""

    @property
    def symbols(self) -> list[str]:
        """Symbols seen by the scan."""

    @property
    def streams(self) -> dict[str, str]:
        """Streams the replay will carry (derived ones included) -> their symbol."""

    def deriver(self) -> Deriver | None:
        """A deriver for one replay (None: the tape derives nothing)."""

    def shift_loop(self, rec: Recorded, loop_index: int) -> Recorded:
        """``rec`` in loop ``loop_index`` (ids continue after the previous loop's)."""

    def loop_restart(self, loop_index: int, offset_ns: int) -> list[Recorded]:
        """Messages placed before the first message of loop ``loop_index`` (>= 1) so the venue's market
        model restarts what must not carry over from the previous loop ([]: nothing)."""

    def clone(self, rec: Recorded, index: int, symbol: str, stream: str) -> Recorded:
        """``rec`` as fan-out clone ``index`` of its symbol."""

    def initial_snapshot(self, symbol: str) -> dict[str, Any] | None:
        """The book snapshot the symbol's true book starts from (None: an empty book)."""


def clone_symbol(symbol: str, index: int) -> str:
    """The name of fan-out clone ``index`` of ``symbol`` (index 0 is the recorded symbol itself)."""
    return symbol if index == 0 else f"{symbol}F{index:03d}"


def clone_stream(stream: str, symbol: str, index: int) -> str:
    """A stream of clone ``index``: its symbol part renamed (``btcusdt@trade`` -> ``btcusdtf001@trade``)."""
    if index == 0:
        return stream
    prefix = symbol.lower()
    if stream.lower().startswith(prefix):
        rest = stream[len(prefix) :]
    else:
        _, sep, tail = stream.partition("@")
        rest = sep + tail
    return clone_symbol(symbol, index).lower() + rest


@dataclass
class FileSpan:
    """What the pre-scan learned about one recording file's time span."""

    path: Path
    first_ns: int | None = None
    last_ns: int | None = None
    records: int = 0


class ReplaySource:
    """A replay timeline over one or more recording files of one format (iterate it for :class:`Recorded`)."""

    def __init__(
        self,
        paths: Iterable[Path | str],
        tape: Tape,
        *,
        fanout: int = 1,
        amplify: float = 1.0,
        burst_gap_ms: float = 5.0,
        loop: bool = False,
        symbols: Iterable[str] | None = None,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ValueError("no recording files given")
        for path in self.paths:
            if not path.is_file():
                raise FileNotFoundError(f"recording not found: {path}")
        if fanout < 1:
            raise ValueError(f"fanout must be >= 1, got {fanout}")
        if amplify < 1.0:
            raise ValueError(f"amplify must be >= 1 (it divides gaps inside bursts), got {amplify}")
        self.tape = tape
        self.fanout = fanout
        self.amplify = amplify
        self.burst_gap_ns = int(burst_gap_ms * 1e6)
        self.loop = loop
        self.only = {s.upper() for s in symbols} if symbols is not None else None
        self.spans = [self._scan(p) for p in self.paths]
        self.captures = _group_captures(self.spans)
        self._capture_start = {id(s): cap[0].first_ns or 0 for cap in self.captures for s in cap}
        self.base_symbols = sorted(tape.symbols)
        if not self.base_symbols:
            raise ValueError(
                "the recordings hold no replayable messages" + (" for the chosen symbols" if symbols else "")
            )
        self.symbols = [clone_symbol(s, i) for i in range(fanout) for s in self.base_symbols]
        self.streams = sorted(
            clone_stream(stream, sym, i) for i in range(fanout) for stream, sym in tape.streams.items()
        )

    def _wanted(self, symbol: str) -> bool:
        return self.only is None or symbol.upper() in self.only

    def _scan(self, path: Path) -> FileSpan:
        """Stream through one file once: its time span, and what the tape learns."""
        span = FileSpan(path)
        for record in read_recording(path):
            item = self.tape.classify(record)
            if item is None:
                continue
            ns = item[0]
            span.records += 1
            span.first_ns = ns if span.first_ns is None else min(span.first_ns, ns)
            span.last_ns = ns if span.last_ns is None else max(span.last_ns, ns)
            if self._wanted(item[1]):
                self.tape.scan(item, record.where())
        return span

    # -- what the venue needs before the replay ----------------------------------------------------

    def initial_snapshot(self, symbol: str, loop_index: int = 0) -> dict[str, Any] | None:
        """The first recorded book snapshot of ``symbol`` (clones: theirs, ids shifted by the tape), as it
        stands in loop ``loop_index`` (ids shifted like the loop's messages)."""
        base, index = self.split_clone(symbol)
        snap = self.tape.initial_snapshot(base)
        if snap is None or (index == 0 and loop_index == 0):
            return snap
        rec = Recorded(0, base, "", "snapshot", snap, self.tape.venue_id("snapshot", snap))
        if loop_index:
            rec = self.tape.shift_loop(rec, loop_index)
        if index:
            rec = self.tape.clone(rec, index, symbol, "")
        return rec.data

    def split_clone(self, symbol: str) -> tuple[str, int]:
        """(recorded symbol, clone index) of a symbol of this timeline."""
        head, sep, tail = symbol.rpartition("F")
        if sep and len(tail) == 3 and tail.isdigit() and head in self.base_symbols:
            return head, int(tail)
        return symbol, 0

    # -- the timeline --------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Recorded]:
        return self._amplified(self._fanned_out(self._looped()))

    def _file_records(self, span: FileSpan) -> Iterator[Item]:
        start = self._capture_start[id(span)]
        for record in read_recording(span.path):
            item = self.tape.classify(record)
            if item is None or not self._wanted(item[1]):
                continue
            ns, symbol, stream, event, data = item
            yield ns - start, symbol, stream, event, data

    def _one_pass(self) -> Iterator[Recorded]:
        venue_id = self.tape.venue_id
        merged = heapq.merge(*(self._file_records(s) for s in self.spans), key=lambda item: item[0])
        for offset, symbol, stream, event, data in merged:
            yield Recorded(offset, symbol, stream, event, data, venue_id(event, data))

    def _looped(self) -> Iterator[Recorded]:
        loop_index = 0
        offset_shift = 0
        deriver = self.tape.deriver()  # one for every loop: derived ids keep counting
        while True:
            first: int | None = None
            last = 0
            items = self._one_pass()
            for rec in deriver.derive(items) if deriver is not None else items:
                starts = first is None
                if starts:
                    first = rec.offset_ns
                last = rec.offset_ns
                if loop_index:
                    rec = self.tape.shift_loop(rec, loop_index)
                    rec.offset_ns += offset_shift
                    if starts:
                        yield from self.tape.loop_restart(loop_index, rec.offset_ns)
                yield rec
            if not self.loop or first is None:
                return
            loop_index += 1
            offset_shift += last - first + LOOP_GAP_NS

    def _fanned_out(self, records: Iterator[Recorded]) -> Iterator[Recorded]:
        if self.fanout == 1:
            yield from records
            return
        for rec in records:
            offset = rec.offset_ns  # read before yielding: later stages may move the original
            yield rec
            for i in range(1, self.fanout):
                sym = clone_symbol(rec.symbol, i)
                stream = clone_stream(rec.stream, rec.symbol, i) if rec.stream else ""
                clone = self.tape.clone(rec, i, sym, stream)
                clone.offset_ns = offset
                yield clone

    def _amplified(self, records: Iterator[Recorded]) -> Iterator[Recorded]:
        if self.amplify == 1.0:
            yield from records
            return
        factor = self.amplify
        burst_gap = self.burst_gap_ns
        last_in: int | None = None
        last_out = 0
        for rec in records:
            if last_in is None:
                out = rec.offset_ns
            else:
                gap = rec.offset_ns - last_in
                out = last_out + (int(gap / factor) if gap < burst_gap else gap)
            last_in = rec.offset_ns
            last_out = out
            rec.offset_ns = out
            yield rec


def _group_captures(spans: list[FileSpan]) -> list[list[FileSpan]]:
    """Files whose time spans touch form one capture (sharing a clock)."""
    timed = sorted((s for s in spans if s.first_ns is not None), key=lambda s: s.first_ns or 0)
    captures: list[list[FileSpan]] = []
    end = 0
    for span in timed:
        assert span.first_ns is not None and span.last_ns is not None
        if captures and span.first_ns <= end + CAPTURE_JOIN_NS:
            captures[-1].append(span)
            end = max(end, span.last_ns)
        else:
            captures.append([span])
            end = span.last_ns
    return captures


__all__ = ["CAPTURE_JOIN_NS", "Deriver", "RecordingError", "ReplaySource", "Tape", "clone_symbol"]
