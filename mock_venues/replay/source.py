"""Recorded venue messages as one lazily read, time-ordered replay timeline.

``ReplaySource(paths, ...)`` reads normalized recordings (``*.norm.jsonl[.gz]``, see
``mock_venues/recordings/PROVENANCE.md``) line by line: a recording is never held in memory. A short
pre-scan learns each file's time span, symbols, streams, first REST depth snapshot per symbol and id
ranges (needed before the replay starts: the venue's books, its stream list, loop id shifts).

Files whose spans touch (within ``CAPTURE_JOIN_NS``) are one capture and share one clock, like the
day-split hftbacktest files; separate captures are each aligned to offset 0 and merged, so recordings
from different days can drive one multi-symbol timeline.

On top of the recorded timeline: symbol fan-out (clones ``<SYMBOL>F001``... with ids shifted by
``FANOUT_ID_STRIDE`` per clone), derived ``aggTrade`` messages where only ``trade`` was recorded, loop
mode (ids keep increasing across loops, depth ids stay contiguous), and burst amplification (gaps shorter
than ``burst_gap_ms`` divided by ``amplify``).
"""

from __future__ import annotations

import gzip
import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import parse_qs, urlsplit

import orjson

from mock_venues.replay.records import Recorded, RecordingError

CAPTURE_JOIN_NS = 120 * 10**9  # files closer than this in time belong to one capture
FANOUT_ID_STRIDE = 10**12  # id offset between fan-out clones: far above any recorded id range
LOOP_GAP_NS = 100_000_000  # pause between the end of one loop and the start of the next
AGG_WINDOW_NS = 1_000_000  # a derived aggregate closes when the timeline moves this far past its last fill
TRADE_DROPPED_KEYS = ("b", "a")  # buyer/seller order ids: gone from Binance spot trades since late 2023


@dataclass
class _IdRange:
    first: int | None = None
    last: int | None = None

    def see(self, first: int, last: int) -> None:
        if self.first is None:
            self.first = first
        self.last = last if self.last is None else max(self.last, last)

    def span(self) -> int:
        """How far ids must move per loop to continue right after the last one."""
        if self.first is None or self.last is None:
            return 0
        return self.last - self.first + 1


@dataclass
class FileScan:
    """What the pre-scan learned about one recording file."""

    path: Path
    first_ns: int | None = None
    last_ns: int | None = None
    records: int = 0
    streams: dict[str, str] = field(default_factory=dict)  # stream -> symbol
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)  # first REST depth per symbol
    depth_ids: dict[str, _IdRange] = field(default_factory=dict)
    trade_ids: dict[str, _IdRange] = field(default_factory=dict)
    agg_ids: dict[str, _IdRange] = field(default_factory=dict)


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _record_ns(obj: dict[str, Any]) -> int | None:
    recv = obj.get("recv_ns")
    if isinstance(recv, int):
        return recv
    ts = obj.get("ts")
    if isinstance(ts, int | float):
        return round(ts * 1e9)
    return None


def _snapshot_symbol(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.path.endswith("/depth"):
        return None
    symbol = parse_qs(parts.query).get("symbol", [""])[0]
    return symbol.upper() or None


def _read_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, parsed object) for every line; a clear RecordingError for anything unreadable."""
    try:
        with _open(path) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise RecordingError(f"{path}:{lineno}: not JSON ({exc})") from None
                if not isinstance(obj, dict):
                    raise RecordingError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
                yield lineno, obj
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise RecordingError(f"{path}: cannot read ({exc})") from None


def _classify(
    path: Path, lineno: int, obj: dict[str, Any]
) -> tuple[int, str, str, str, dict[str, Any]] | None:
    """(abs ns, symbol, stream, event, data) for replayable lines; None for connect/config/other REST."""
    src = obj.get("src")
    data = obj.get("data")
    if src in ("connect", "config"):
        return None
    ns = _record_ns(obj)
    if ns is None:
        raise RecordingError(f"{path}:{lineno}: record has neither recv_ns nor ts")
    if src == "rest":
        symbol = _snapshot_symbol(str(obj.get("url") or ""))
        if symbol is None or not isinstance(data, dict) or "lastUpdateId" not in data:
            return None  # exchangeInfo and other REST responses are not part of the timeline
        return ns, symbol, "", "snapshot", data
    if src != "ws":
        raise RecordingError(f"{path}:{lineno}: unknown src {src!r}")
    stream = obj.get("stream")
    if not isinstance(stream, str) or not isinstance(data, dict):
        raise RecordingError(f"{path}:{lineno}: ws record without stream name or payload")
    symbol = data.get("s")
    if not isinstance(symbol, str):
        raise RecordingError(f"{path}:{lineno}: payload of {stream!r} has no symbol 's'")
    event = data.get("e", "bookTicker" if "@bookTicker" in stream else None)
    if not isinstance(event, str):
        raise RecordingError(f"{path}:{lineno}: payload of {stream!r} has no event type 'e'")
    return ns, symbol, stream, event, data


def venue_id_of(event: str, data: dict[str, Any]) -> int:
    """The id a feed sequences a message by."""
    if event in ("depthUpdate", "bookTicker"):
        return int(data["u"])
    if event == "trade":
        return int(data["t"])
    if event == "aggTrade":
        return int(data["a"])
    if event == "snapshot":
        return int(data["lastUpdateId"])
    return int(data.get("E", 0))


def scan_file(path: Path) -> FileScan:
    """Stream through one file once, keeping only small metadata."""
    scan = FileScan(path)
    for lineno, obj in _read_lines(path):
        item = _classify(path, lineno, obj)
        if item is None:
            continue
        ns, symbol, stream, event, data = item
        scan.records += 1
        scan.first_ns = ns if scan.first_ns is None else min(scan.first_ns, ns)
        scan.last_ns = ns if scan.last_ns is None else max(scan.last_ns, ns)
        try:
            if event == "snapshot":
                scan.snapshots.setdefault(symbol, data)
                continue
            scan.streams.setdefault(stream, symbol)
            if event == "depthUpdate":
                scan.depth_ids.setdefault(symbol, _IdRange()).see(int(data["U"]), int(data["u"]))
            elif event == "trade":
                scan.trade_ids.setdefault(symbol, _IdRange()).see(int(data["t"]), int(data["t"]))
            elif event == "aggTrade":
                scan.agg_ids.setdefault(symbol, _IdRange()).see(int(data["a"]), int(data["a"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordingError(f"{path}:{lineno}: malformed {event} payload ({exc!r})") from None
    return scan


def _group_captures(scans: list[FileScan]) -> list[list[FileScan]]:
    """Files whose time spans touch form one capture (sharing a clock)."""
    timed = sorted((s for s in scans if s.first_ns is not None), key=lambda s: s.first_ns or 0)
    captures: list[list[FileScan]] = []
    end = 0
    for scan in timed:
        assert scan.first_ns is not None and scan.last_ns is not None
        if captures and scan.first_ns <= end + CAPTURE_JOIN_NS:
            captures[-1].append(scan)
            end = max(end, scan.last_ns)
        else:
            captures.append([scan])
            end = scan.last_ns
    return captures


def clone_symbol(symbol: str, index: int) -> str:
    """The name of fan-out clone ``index`` of ``symbol`` (index 0 is the recorded symbol itself)."""
    return symbol if index == 0 else f"{symbol}F{index:03d}"


def _shift_payload(event: str, data: dict[str, Any], depth: int, trade: int, agg: int) -> dict[str, Any]:
    out = dict(data)
    if event in ("depthUpdate", "bookTicker"):
        for key in ("U", "u", "pu"):
            if key in out:
                out[key] += depth
    elif event == "trade":
        out["t"] += trade
    elif event == "aggTrade":
        out["a"] += agg
        out["f"] += trade
        out["l"] += trade
    elif event == "snapshot":
        out["lastUpdateId"] += depth
    elif event == "kline" and isinstance(out.get("k"), dict):
        k = dict(out["k"])
        for key in ("f", "L"):
            if isinstance(k.get(key), int) and k[key] >= 0:
                k[key] += trade
        out["k"] = k
    return out


class _AggDeriver:
    """Builds Binance-shaped aggTrade messages from consecutive trades (same time, price and side)."""

    def __init__(self, first_ids: dict[str, int]) -> None:
        self._next_id = dict(first_ids)
        self._open: dict[str, tuple[int, dict[str, Any], list[dict[str, Any]]]] = {}

    def add(self, offset_ns: int, symbol: str, trade: dict[str, Any]) -> Recorded | None:
        """Feed one trade; returns a closed aggregate when this trade starts a new one."""
        current = self._open.get(symbol)
        if current is not None:
            _, _, fills = current
            last = fills[-1]
            if last["T"] == trade["T"] and last["p"] == trade["p"] and last["m"] == trade["m"]:
                fills.append(trade)
                self._open[symbol] = (offset_ns, current[1], fills)
                return None
        closed = self._close(symbol, offset_ns) if current is not None else None
        self._open[symbol] = (offset_ns, trade, [trade])
        return closed

    def due(self, now_offset_ns: int, emitted_offset_ns: int) -> list[Recorded]:
        """Aggregates whose last fill is more than ``AGG_WINDOW_NS`` behind the timeline.

        They go out at ``emitted_offset_ns`` (the last message already on the timeline), which keeps the
        timeline ordered and is at most ``AGG_WINDOW_NS`` after the aggregate's last fill.
        """
        if not self._open:
            return []
        closing = [s for s, (off, _, _) in self._open.items() if off + AGG_WINDOW_NS < now_offset_ns]
        return [self._close(s, emitted_offset_ns) for s in closing]

    def flush(self, emitted_offset_ns: int) -> list[Recorded]:
        """Close every open aggregate (end of the timeline)."""
        return [self._close(s, emitted_offset_ns) for s in list(self._open)]

    def _close(self, symbol: str, offset_ns: int) -> Recorded:
        last_offset, _, fills = self._open.pop(symbol)
        agg_id = self._next_id.get(symbol, 0)
        self._next_id[symbol] = agg_id + 1
        qty = sum((Decimal(f["q"]) for f in fills), Decimal(0))
        decimals = len(fills[0]["q"].partition(".")[2])
        first, last = fills[0], fills[-1]
        data = {
            "e": "aggTrade",
            "E": last["E"],
            "s": symbol,
            "a": agg_id,
            "p": first["p"],
            "q": f"{qty:.{decimals}f}",
            "f": first["t"],
            "l": last["t"],
            "T": last["T"],
            "m": last["m"],
            "M": True,
        }
        return Recorded(
            max(offset_ns, last_offset), symbol, f"{symbol.lower()}@aggTrade", "aggTrade", data, agg_id
        )


class ReplaySource:
    """A replay timeline over one or more recording files (iterate it to get :class:`Recorded`)."""

    def __init__(
        self,
        paths: Iterable[Path | str],
        *,
        fanout: int = 1,
        amplify: float = 1.0,
        burst_gap_ms: float = 5.0,
        loop: bool = False,
        derive_agg_trades: bool = True,
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
        self.fanout = fanout
        self.amplify = amplify
        self.burst_gap_ns = int(burst_gap_ms * 1e6)
        self.loop = loop
        self.only = {s.upper() for s in symbols} if symbols is not None else None
        self.scans = [scan_file(p) for p in self.paths]
        self.captures = _group_captures(self.scans)
        self._capture_start = {id(s): cap[0].first_ns or 0 for cap in self.captures for s in cap}
        recorded = self._merged_meta()
        self.base_symbols = sorted(recorded["symbols"])
        if not self.base_symbols:
            raise ValueError(
                "the recordings hold no replayable messages" + (" for the chosen symbols" if symbols else "")
            )
        self._derive_for = (
            {s for s in self.base_symbols if s in recorded["trade_syms"] and s not in recorded["agg_syms"]}
            if derive_agg_trades
            else set()
        )
        self._depth_span = {s: r.span() for s, r in recorded["depth"].items()}
        self._trade_span = {s: r.span() for s, r in recorded["trade"].items()}
        self._agg_span = {s: r.span() for s, r in recorded["agg"].items()}
        self._trade_first = {s: r.first or 0 for s, r in recorded["trade"].items()}
        self._snapshots: dict[str, dict[str, Any]] = recorded["snapshots"]
        base_streams: dict[str, str] = dict(recorded["streams"])
        for sym in self._derive_for:
            base_streams[f"{sym.lower()}@aggTrade"] = sym
        self.symbols = [clone_symbol(s, i) for i in range(fanout) for s in self.base_symbols]
        self.streams = sorted(
            _clone_stream(stream, sym, i) for i in range(fanout) for stream, sym in base_streams.items()
        )

    def _merged_meta(self) -> dict[str, Any]:
        symbols: set[str] = set()
        streams: dict[str, str] = {}
        snapshots: dict[str, dict[str, Any]] = {}
        ranges: dict[str, dict[str, _IdRange]] = {"depth": {}, "trade": {}, "agg": {}}
        for scan in sorted(self.scans, key=lambda s: s.first_ns or 0):
            for stream, sym in scan.streams.items():
                if self._wanted(sym):
                    streams.setdefault(stream, sym)
                    symbols.add(sym)
            for sym, snap in scan.snapshots.items():
                if self._wanted(sym):
                    snapshots.setdefault(sym, snap)
                    symbols.add(sym)
            for kind, per_symbol in (
                ("depth", scan.depth_ids),
                ("trade", scan.trade_ids),
                ("agg", scan.agg_ids),
            ):
                for sym, rng in per_symbol.items():
                    if rng.first is not None and rng.last is not None:
                        ranges[kind].setdefault(sym, _IdRange()).see(rng.first, rng.last)
        return {
            "symbols": symbols,
            "streams": streams,
            "snapshots": snapshots,
            "depth": ranges["depth"],
            "trade": ranges["trade"],
            "agg": ranges["agg"],
            "trade_syms": set(ranges["trade"]),
            "agg_syms": set(ranges["agg"]),
        }

    def _wanted(self, symbol: str) -> bool:
        return self.only is None or symbol.upper() in self.only

    # -- what the venue needs before the replay ----------------------------------------------------

    def initial_snapshot(self, symbol: str) -> dict[str, Any] | None:
        """The first recorded REST depth snapshot of ``symbol`` (clones: with their shifted ids)."""
        base, index = self._split_clone(symbol)
        snap = self._snapshots.get(base)
        if snap is None:
            return None
        return _shift_payload("snapshot", snap, index * FANOUT_ID_STRIDE, 0, 0) if index else snap

    def _split_clone(self, symbol: str) -> tuple[str, int]:
        head, sep, tail = symbol.rpartition("F")
        if sep and len(tail) == 3 and tail.isdigit() and head in self.base_symbols:
            return head, int(tail)
        return symbol, 0

    # -- the timeline --------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Recorded]:
        return self._amplified(self._fanned_out(self._looped()))

    def _file_records(self, scan: FileScan) -> Iterator[tuple[int, str, str, str, dict[str, Any]]]:
        start = self._capture_start[id(scan)]
        for lineno, obj in _read_lines(scan.path):
            item = _classify(scan.path, lineno, obj)
            if item is None or not self._wanted(item[1]):
                continue
            ns, symbol, stream, event, data = item
            if event == "trade" and ("b" in data or "a" in data):
                data = {k: v for k, v in data.items() if k not in TRADE_DROPPED_KEYS}
            yield ns - start, symbol, stream, event, data

    def _one_pass(self) -> Iterator[tuple[int, str, str, str, dict[str, Any]]]:
        streams = [self._file_records(scan) for scan in self.scans]
        return heapq.merge(*streams, key=lambda item: item[0])

    def _with_aggs(
        self, items: Iterator[tuple[int, str, str, str, dict[str, Any]]], deriver: _AggDeriver | None
    ) -> Iterator[Recorded]:
        emitted = 0
        for offset, symbol, stream, event, data in items:
            if deriver is not None:
                yield from deriver.due(offset, emitted)
            emitted = offset
            yield Recorded(offset, symbol, stream, event, data, venue_id_of(event, data))
            if deriver is not None and event == "trade" and symbol in self._derive_for:
                closed = deriver.add(offset, symbol, data)
                if closed is not None:
                    yield closed
        if deriver is not None:
            yield from deriver.flush(emitted)

    def _looped(self) -> Iterator[Recorded]:
        loop_index = 0
        offset_shift = 0
        # One deriver for every loop: derived aggregate ids keep counting, so they need no loop shift.
        deriver = _AggDeriver(self._trade_first) if self._derive_for else None
        while True:
            first: int | None = None
            last = 0
            for rec in self._with_aggs(self._one_pass(), deriver):
                if first is None:
                    first = rec.offset_ns
                last = rec.offset_ns
                if loop_index:
                    rec = self._shift_loop(rec, loop_index, offset_shift)
                yield rec
            if not self.loop or first is None:
                return
            loop_index += 1
            offset_shift += last - first + LOOP_GAP_NS

    def _shift_loop(self, rec: Recorded, loop_index: int, offset_shift: int) -> Recorded:
        sym = rec.symbol
        depth = self._depth_span.get(sym, 0) * loop_index
        trade = self._trade_span.get(sym, 0) * loop_index
        agg = self._agg_span.get(sym, 0) * loop_index
        data = _shift_payload(rec.event, rec.data, depth, trade, agg)
        return Recorded(
            rec.offset_ns + offset_shift, sym, rec.stream, rec.event, data, venue_id_of(rec.event, data)
        )

    def _fanned_out(self, records: Iterator[Recorded]) -> Iterator[Recorded]:
        if self.fanout == 1:
            yield from records
            return
        for rec in records:
            offset = rec.offset_ns  # read before yielding: later stages may move the original
            yield rec
            for i in range(1, self.fanout):
                shift = i * FANOUT_ID_STRIDE
                sym = clone_symbol(rec.symbol, i)
                data = _shift_payload(rec.event, rec.data, shift, shift, shift)
                data["s"] = sym
                if rec.event == "kline" and isinstance(data.get("k"), dict):
                    data["k"] = {**data["k"], "s": sym}
                stream = _clone_stream(rec.stream, rec.symbol, i) if rec.stream else ""
                yield Recorded(offset, sym, stream, rec.event, data, venue_id_of(rec.event, data))

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


def _clone_stream(stream: str, symbol: str, index: int) -> str:
    if index == 0:
        return stream
    prefix = symbol.lower()
    rest = (
        stream[len(prefix) :]
        if stream.startswith(prefix)
        else stream.partition("@")[1] + stream.partition("@")[2]
    )
    return clone_symbol(symbol, index).lower() + rest
