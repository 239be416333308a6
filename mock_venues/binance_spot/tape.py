"""Binance-format recordings as a replay tape: which records are timeline messages and what they mean.

The normalized recordings in ``mock_venues/recordings`` (and ../shared/recordings) hold Binance spot
combined-stream payloads and REST depth snapshots. :class:`BinanceTape` is their
:class:`~mock_venues.replay.source.Tape`: it classifies each record (symbol ``s``, event ``e``, the id a
feed sequences it by), learns in the pre-scan the first REST depth snapshot per symbol and the id ranges
(for loop id shifts), derives Binance-shaped ``aggTrade`` messages where only ``trade`` was recorded,
shifts ids so they keep increasing across loops, and clones a symbol for fan-out (ids shifted by
``FANOUT_ID_STRIDE`` per clone). Records of Binance's futures markets (USD-M, COIN-M) are refused with a
clear error: the spot venue does not serve them. Any venue whose market model is driven by a Binance tape
(the spot venue; derived venues later) reads recordings through this class.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mock_venues.replay.records import Recorded, RecordingError
from mock_venues.replay.source import Item, ReplaySource
from tickstorm.recording import Record

LOOP_RESTART = "loopRestart"  # the event of a loop restart message (never published)
FANOUT_ID_STRIDE = 10**12  # id offset between fan-out clones: far above any recorded id range
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


def _snapshot_symbol(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.path.endswith("/depth"):
        return None
    symbol = parse_qs(parts.query).get("symbol", [""])[0]
    return symbol.upper() or None


def _futures_marker(record: Record) -> str | None:
    """Why a record is from Binance's futures markets (None: it is not)."""
    if record.url is not None:
        path = urlsplit(record.url).path
        if path.startswith("/fapi/"):
            return f"USD-M futures REST answer ({path})"
        if path.startswith("/dapi/"):
            return f"COIN-M futures REST answer ({path})"
    data = record.data
    if not isinstance(data, dict):
        return None
    stream = record.stream or ""
    if "@depth@0ms" in stream:
        return f"futures stream {stream!r}"
    if "pu" in data:
        return "depth update with 'pu' (futures)"
    if record.src == "rest" and "lastUpdateId" in data and ("E" in data or "T" in data):
        return "depth snapshot with event/transaction times (futures)"
    if data.get("e") == "bookTicker":
        return "bookTicker with an event type (futures)"
    if data.get("e") == "trade" and "X" in data:
        return "trade with an order type 'X' (futures)"
    return None


def _classify(record: Record) -> Item | None:
    """(abs ns, symbol, stream, event, data) for replayable records; None for connect/config/other REST."""
    src, data, where = record.src, record.data, record.where()
    if src in ("connect", "config"):
        return None
    futures = _futures_marker(record)
    if futures is not None:
        raise RecordingError(
            f"{where}: a Binance futures record ({futures}): the binance-spot venue replays spot "
            "recordings only"
        )
    ns = record.time_ns
    if ns is None:
        raise RecordingError(f"{where}: record has neither recv_ns nor ts")
    if src == "rest":
        symbol = _snapshot_symbol(record.url or "")
        if symbol is None or not isinstance(data, dict) or "lastUpdateId" not in data:
            return None  # exchangeInfo and other REST responses are not part of the timeline
        return ns, symbol, "", "snapshot", data
    stream = record.stream
    if stream is None or not isinstance(data, dict):
        raise RecordingError(f"{where}: ws record without stream name or payload")
    symbol = data.get("s")
    if not isinstance(symbol, str):
        raise RecordingError(f"{where}: payload of {stream!r} has no symbol 's'")
    event = data.get("e", "bookTicker" if "@bookTicker" in stream else None)
    if not isinstance(event, str):
        raise RecordingError(f"{where}: payload of {stream!r} has no event type 'e'")
    if event == "trade" and ("b" in data or "a" in data):
        data = {k: v for k, v in data.items() if k not in TRADE_DROPPED_KEYS}
    return ns, symbol, stream, event, data


def _check_snapshot(data: dict[str, Any]) -> None:
    """A depth snapshot the true book can start from: an integer ``lastUpdateId`` and ``bids``/``asks``
    lists of ``[price, qty]`` strings (ValueError/KeyError/TypeError otherwise)."""
    int(data["lastUpdateId"])
    for side in ("bids", "asks"):
        levels = data[side]
        if not isinstance(levels, list) or not all(
            isinstance(level, list) and len(level) >= 2 and all(isinstance(x, str) for x in level[:2])
            for level in levels
        ):
            raise ValueError(f"{side!r} is not a list of [price, qty] strings")


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

    def __init__(self, first_ids: dict[str, int], symbols: set[str]) -> None:
        self._next_id = dict(first_ids)
        self.symbols = symbols
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

    def derive(self, items: Iterator[Recorded]) -> Iterator[Recorded]:
        """The timeline with the derived aggregates interleaved."""
        emitted = 0
        for rec in items:
            yield from self.due(rec.offset_ns, emitted)
            emitted = rec.offset_ns
            yield rec
            if rec.event == "trade" and rec.symbol in self.symbols:
                closed = self.add(rec.offset_ns, rec.symbol, rec.data)
                if closed is not None:
                    yield closed
        yield from self.flush(emitted)


class BinanceTape:
    """Binance spot recordings as a :class:`~mock_venues.replay.source.Tape`."""

    def __init__(self, *, derive_agg_trades: bool = True) -> None:
        self.derive_agg_trades = derive_agg_trades
        self._streams: dict[str, str] = {}
        self._snapshots: dict[str, tuple[int, dict[str, Any]]] = {}  # symbol -> (time, first snapshot)
        self._depth: dict[str, _IdRange] = {}
        self._trade: dict[str, _IdRange] = {}
        self._agg: dict[str, _IdRange] = {}
        self._symbols: set[str] = set()

    def classify(self, record: Record) -> Item | None:
        """See :class:`~mock_venues.replay.source.Tape`."""
        return _classify(record)

    def scan(self, item: Item, where: str) -> None:
        """Snapshots, streams and id ranges per symbol."""
        ns, symbol, stream, event, data = item
        self._symbols.add(symbol)
        try:
            if event == "snapshot":
                _check_snapshot(data)
                known = self._snapshots.get(symbol)
                if known is None or ns < known[0]:
                    self._snapshots[symbol] = (ns, data)
                return
            self._streams.setdefault(stream, symbol)
            if event == "depthUpdate":
                self._depth.setdefault(symbol, _IdRange()).see(int(data["U"]), int(data["u"]))
            elif event == "trade":
                self._trade.setdefault(symbol, _IdRange()).see(int(data["t"]), int(data["t"]))
            elif event == "aggTrade":
                self._agg.setdefault(symbol, _IdRange()).see(int(data["a"]), int(data["a"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordingError(f"{where}: malformed {event} payload ({exc!r})") from None

    def venue_id(self, event: str, data: dict[str, Any]) -> int:
        """See :func:`venue_id_of`."""
        return venue_id_of(event, data)

    @property
    def derived_for(self) -> set[str]:
        """Symbols whose aggregate trades are derived (trades recorded, aggregates not)."""
        if not self.derive_agg_trades:
            return set()
        return {s for s in self._trade if s not in self._agg and s in self._symbols}

    @property
    def symbols(self) -> list[str]:
        """Symbols the scan saw."""
        return sorted(self._symbols)

    @property
    def streams(self) -> dict[str, str]:
        """Recorded streams plus the derived aggTrade streams."""
        streams = dict(self._streams)
        for symbol in self.derived_for:
            streams[f"{symbol.lower()}@aggTrade"] = symbol
        return streams

    def deriver(self) -> _AggDeriver | None:
        """Aggregates from trades, for the symbols without recorded aggregates."""
        derived = self.derived_for
        if not derived:
            return None
        first = {s: r.first or 0 for s, r in self._trade.items()}
        return _AggDeriver(first, derived)

    def shift_loop(self, rec: Recorded, loop_index: int) -> Recorded:
        """Ids moved past the previous loop's (depth ids stay contiguous)."""
        sym = rec.symbol
        depth = _span(self._depth, sym) * loop_index
        trade = _span(self._trade, sym) * loop_index
        agg = _span(self._agg, sym) * loop_index
        data = _shift_payload(rec.event, rec.data, depth, trade, agg)
        return Recorded(rec.offset_ns, sym, rec.stream, rec.event, data, venue_id_of(rec.event, data))

    def loop_restart(self, loop_index: int, offset_ns: int) -> list[Recorded]:
        """One :data:`LOOP_RESTART` message per symbol with depth diffs: its true book restarts from the
        recording's first snapshot (see :class:`~mock_venues.binance_spot.model.BinanceSpotModel`)."""
        return [
            Recorded(offset_ns, symbol, "", LOOP_RESTART, {"s": symbol, "loop": loop_index}, 0)
            for symbol in sorted(self._depth)
        ]

    def clone(self, rec: Recorded, index: int, symbol: str, stream: str) -> Recorded:
        """Clone ``index``: ids shifted by ``index * FANOUT_ID_STRIDE``, symbol renamed."""
        shift = index * FANOUT_ID_STRIDE
        data = _shift_payload(rec.event, rec.data, shift, shift, shift)
        if "s" in data:
            data["s"] = symbol
        if rec.event == "kline" and isinstance(data.get("k"), dict):
            data["k"] = {**data["k"], "s": symbol}
        return Recorded(rec.offset_ns, symbol, stream, rec.event, data, venue_id_of(rec.event, data))

    def initial_snapshot(self, symbol: str) -> dict[str, Any] | None:
        """The first recorded REST depth snapshot of ``symbol``."""
        found = self._snapshots.get(symbol)
        return found[1] if found is not None else None


def _span(ranges: dict[str, _IdRange], symbol: str) -> int:
    found = ranges.get(symbol)
    return found.span() if found is not None else 0


def binance_source(
    paths: Iterable[Path | str],
    *,
    fanout: int = 1,
    amplify: float = 1.0,
    burst_gap_ms: float = 5.0,
    loop: bool = False,
    derive_agg_trades: bool = True,
    symbols: Iterable[str] | None = None,
) -> ReplaySource:
    """A replay timeline over Binance-format recordings."""
    return ReplaySource(
        paths,
        BinanceTape(derive_agg_trades=derive_agg_trades),
        fanout=fanout,
        amplify=amplify,
        burst_gap_ms=burst_gap_ms,
        loop=loop,
        symbols=symbols,
    )
