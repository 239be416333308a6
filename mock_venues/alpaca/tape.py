"""The recordings as Alpaca messages: a replay :class:`~mock_venues.replay.source.Tape` and its deriver.

Reads two recording kinds in one timeline:

* the Alpaca slices (``mock_venues/recordings/alpaca_*``, rebuilt by ``alpaca_slices.py``): AlgoSeek tick
  trades and per-exchange quote updates (``lean.trade``, ``lean.quote``), AlgoSeek option minute bars
  (``lean.option_trade_bar``, ``lean.option_quote_bar``), news items (``news``);
* Binance spot recordings (``btcusdt@trade``, ``@bookTicker``, ``@depth...``, REST depth snapshots),
  served as Alpaca crypto ``BTC/USD`` (USDT pairs renamed to USD).

What is derived, and how (the deriver, one per replay, so counters run on across loops):

* stock trade ids: a counter per (symbol, exchange) from 1 (AlgoSeek has no trade ids), so ids are unique
  per (exchange, id), as Alpaca's; history key ``ord(x) * 10**12 + i``;
* stock quotes: the NBBO from the AlgoSeek quote rows. Each row carries one side (bid or ask) with its
  exchange; the rows come in bid/ask pairs of the same millisecond, and keeping the latest bid and the
  latest ask gives a crossed market 0.2 % (IBM) / 0 % (BAC) of the time after the open, while keeping
  each exchange's latest sides and taking the best gives 76 % crossed (IBM): the rows are national best
  bid/offer sides, not per-exchange books. So the NBBO is the latest bid side with the latest ask side,
  published once per millisecond when it changed; sizes in round lots of 100;
* minute bars ``b`` and daily bars ``d`` from the trades (published with the first trade of the next
  minute); a LULD band ``l`` (+-5 %, tier 1) at each stock's first regular-hours trade;
* option trades and quotes: one trade (close price, bar volume) per trade bar and one quote (closing
  bid/ask) per quote bar, at the bar's end;
* crypto trades, quotes (bookTicker) and order books (depth diffs) from Binance, bars from the trades.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mock_venues.alpaca.codec import parse_rfc3339
from mock_venues.alpaca.protocol import NEWS_STREAM, Market
from mock_venues.replay.records import Recorded, RecordingError
from mock_venues.replay.source import Item
from tickstorm.recording import Record

MINUTE_NS = 60 * 10**9
DAY_NS = 24 * 3600 * 10**9
EXCHANGE_KEY = 10**12  # history key of a stock trade: ord(exchange) * EXCHANGE_KEY + id
LOOP_ID_STRIDE = 10**10  # ids move by this much per loop
OPEN_MS_ET = (9 * 60 + 30) * 60 * 1000
ET_OFFSET_NS = 4 * 3600 * 10**9  # the recorded days are in EDT
STOCK_TAPE = "A"  # IBM and BAC are NYSE-listed: CTA tape A
OPTION_EXCHANGE = "O"  # the bars carry no exchange: "O" (OPRA, consolidated) stands for "not recorded"
LULD_BAND = 0.05


def et_midnight(ns: int) -> int:
    """The start of the (EDT) day of a Unix ns time: a daily bar's ``t``."""
    return ns - (ns - ET_OFFSET_NS) % DAY_NS


def trade_key(exchange: str, trade_id: int) -> int:
    """The venue-history key of a stock trade (ids are unique per exchange only)."""
    return ord(exchange[:1] or "?") * EXCHANGE_KEY + trade_id


def crypto_symbol(binance_symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC/USD`` (other quote assets: ``BASE/QUOTE``)."""
    s = binance_symbol.upper()
    for quote in ("USDT", "USDC", "USD", "BTC", "ETH"):
        if s.endswith(quote) and len(s) > len(quote):
            return f"{s[: -len(quote)]}/{'USD' if quote.startswith('USD') else quote}"
    return s


def _binance_item(record: Record) -> Item | None:
    data, ns = record.data, record.time_ns
    if not isinstance(data, dict):
        return None
    if ns is None:
        raise RecordingError(f"{record.where()}: record has neither recv_ns nor ts")
    if record.src == "rest":
        url = record.url or ""
        if "/depth" in url and "lastUpdateId" in data and "symbol=" in url:
            sym = url.split("symbol=", 1)[1].split("&", 1)[0]
            return ns, crypto_symbol(sym), "", "snapshot", data
        return None
    stream = record.stream or ""
    symbol = data.get("s")
    if not isinstance(symbol, str):
        return None
    if stream.endswith("@trade"):
        return ns, crypto_symbol(symbol), stream, "binance_trade", data
    if stream.endswith("@bookTicker"):
        return ns, crypto_symbol(symbol), stream, "binance_bookTicker", data
    if "@depth" in stream and data.get("e") == "depthUpdate":
        return ns, crypto_symbol(symbol), stream, "binance_depth", data
    return None


@dataclass
class _Bar:
    t: int  # minute start (recorded ns)
    o: float
    h: float
    low: float
    c: float
    v: float = 0.0
    n: int = 0
    pv: float = 0.0

    def add(self, price: float, size: float) -> None:
        self.h = max(self.h, price)
        self.low = min(self.low, price)
        self.c = price
        self.v += size
        self.n += 1
        self.pv += price * size

    def message(self, kind: str, symbol: str, integer_volume: bool) -> dict[str, Any]:
        vol: float | int = int(self.v) if integer_volume else round(self.v, 8)
        vw = round(self.pv / self.v, 6) if self.v else self.c
        return {
            "T": kind,
            "S": symbol,
            "o": self.o,
            "h": self.h,
            "l": self.low,
            "c": self.c,
            "v": vol,
            "t": self.t,
            "n": self.n,
            "vw": vw,
        }


@dataclass
class AlpacaDeriver:
    """Turns the classified records into Alpaca messages (see the module docstring)."""

    trade_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    sides: dict[str, list[Any]] = field(default_factory=dict)  # symbol -> [bp, bs, bx, ap, as, ax]
    pending: dict[str, tuple[Recorded, int]] = field(default_factory=dict)  # quotes of the current ms
    nbbo: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    bars: dict[str, _Bar] = field(default_factory=dict)
    daily: dict[str, _Bar] = field(default_factory=dict)
    luld_sent: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)

    def _count(self, stream: str) -> int:
        n = self.counters.get(stream, 0) + 1
        self.counters[stream] = n
        return n

    def _rec(
        self,
        rec: Recorded,
        stream: str,
        msg: dict[str, Any],
        venue_id: int | None = None,
        recorded_ns: int | None = None,
    ) -> Recorded:
        msg["_r"] = recorded_ns if recorded_ns is not None else msg["t"]
        vid = venue_id if venue_id is not None else self._count(stream)
        return Recorded(rec.offset_ns, rec.symbol, stream, msg["T"], msg, vid)

    def derive(self, items: Iterator[Recorded]) -> Iterator[Recorded]:
        """The Alpaca messages of the timeline, in time order."""
        for rec in items:
            if self.pending:
                yield from self._flush_quotes(rec.venue_id)
            yield from self._one(rec)
        yield from self._flush_quotes(None)

    def _bars(
        self, rec: Recorded, symbol: str, ns: int, price: float, size: float, integer_volume: bool
    ) -> Iterator[Recorded]:
        minute = ns - ns % MINUTE_NS
        bar: _Bar | None = self.bars.get(symbol)
        if bar is not None and minute > bar.t:
            yield self._rec(rec, f"bars.{symbol}", bar.message("b", symbol, integer_volume), recorded_ns=ns)
            so_far = self.daily[symbol]
            yield self._rec(
                rec, f"dailyBars.{symbol}", so_far.message("d", symbol, integer_volume), recorded_ns=ns
            )
            bar = None
        if bar is None:
            bar = self.bars[symbol] = _Bar(minute, price, price, price, price)
        bar.add(price, size)
        day = self.daily.get(symbol)
        if day is None:
            day = self.daily[symbol] = _Bar(et_midnight(ns), price, price, price, price)
        day.add(price, size)

    def _one(self, rec: Recorded) -> Iterator[Recorded]:
        event, d = rec.event, rec.data
        ns = rec.venue_id  # the tape's venue_id of a raw record is its recorded time
        if event == "lean.trade":
            sym, x = d["S"], d["x"]
            yield from self._bars(rec, sym, ns, d["p"], d["s"], True)
            ms_et = (ns - ET_OFFSET_NS) // 10**6 % 86_400_000
            key = (sym, x)
            tid = self.trade_ids.get(key, 0) + 1
            self.trade_ids[key] = tid
            regular = ms_et >= OPEN_MS_ET
            msg = {
                "T": "t",
                "S": sym,
                "i": tid,
                "x": x,
                "p": d["p"],
                "s": d["s"],
                "c": ["@"] if regular else ["@", "T"],
                "z": STOCK_TAPE,
                "t": ns,
            }
            if regular and sym not in self.luld_sent:
                self.luld_sent.add(sym)
                p = d["p"]
                band = {
                    "T": "l",
                    "S": sym,
                    "u": round(p * (1 + LULD_BAND), 2),
                    "d": round(p * (1 - LULD_BAND), 2),
                    "i": "B",
                    "t": ns,
                    "z": STOCK_TAPE,
                }
                yield self._rec(rec, f"lulds.{sym}", band)
            yield self._rec(rec, f"trades.{sym}", msg, trade_key(x, tid))
        elif event == "lean.quote":
            yield from self._stock_quote(rec, ns, d)
        elif event == "lean.option_trade_bar":
            msg = {"T": "t", "S": d["S"], "t": ns, "p": d["c"], "s": d["v"], "x": OPTION_EXCHANGE, "c": " "}
            yield self._rec(rec, f"trades.{d['S']}", msg)
        elif event == "lean.option_quote_bar":
            msg = {
                "T": "q",
                "S": d["S"],
                "t": ns,
                "bx": OPTION_EXCHANGE,
                "bp": d["bc"],
                "bs": d["bs"],
                "ax": OPTION_EXCHANGE,
                "ap": d["ac"],
                "as": d["as"],
                "c": " ",
            }
            yield self._rec(rec, f"quotes.{d['S']}", msg)
        elif event == "news":
            msg = {
                "T": "n",
                "id": d["id"],
                "headline": d["headline"],
                "summary": d["summary"],
                "author": d["author"],
                "created_at": parse_rfc3339(d["created_at"]),
                "updated_at": parse_rfc3339(d["updated_at"]),
                "url": d["url"],
                "content": d["content"],
                "symbols": list(d["symbols"]),
                "source": d["source"],
            }
            yield self._rec(rec, NEWS_STREAM, msg, d["id"], recorded_ns=ns)
        elif event == "binance_trade":
            sym = rec.symbol
            price, size = float(d["p"]), float(d["q"])
            yield from self._bars(rec, sym, ns, price, size, False)
            msg = {
                "T": "t",
                "S": sym,
                "p": price,
                "s": size,
                "t": ns,
                "i": int(d["t"]),
                "tks": "S" if d.get("m") else "B",
            }
            yield self._rec(rec, f"trades.{sym}", msg, int(d["t"]))
        elif event == "binance_bookTicker":
            sym = rec.symbol
            msg = {
                "T": "q",
                "S": sym,
                "bp": float(d["b"]),
                "bs": float(d["B"]),
                "ap": float(d["a"]),
                "as": float(d["A"]),
                "t": ns,
            }
            yield self._rec(rec, f"quotes.{sym}", msg)
        elif event == "binance_depth":
            sym = rec.symbol
            msg = {
                "T": "o",
                "S": sym,
                "t": ns,
                "b": [{"p": float(p), "s": float(q)} for p, q in d["b"]],
                "a": [{"p": float(p), "s": float(q)} for p, q in d["a"]],
            }
            yield self._rec(rec, f"orderbooks.{sym}", msg, int(d["u"]))
        elif event == "snapshot":
            snap = {"T": "snapshot", "S": rec.symbol, "t": ns, "bids": d["bids"], "asks": d["asks"]}
            yield self._rec(rec, "", snap, int(d["lastUpdateId"]))

    def _stock_quote(self, rec: Recorded, ns: int, d: dict[str, Any]) -> Iterator[Recorded]:
        """A row updates the national bid or ask side; the quote goes out once the millisecond is over."""
        sym = d["S"]
        sides = self.sides.setdefault(sym, [0.0, 0, "", 0.0, 0, ""])
        if d["bp"]:
            sides[0:3] = [d["bp"], d["bs"], d["x"]]
        if d["ap"]:
            sides[3:6] = [d["ap"], d["as"], d["x"]]
        self.pending[sym] = (rec, ns)
        return iter(())

    def _flush_quotes(self, before_ns: int | None) -> Iterator[Recorded]:
        for sym, (rec, ns) in list(self.pending.items()):
            if before_ns is not None and ns >= before_ns:
                continue
            del self.pending[sym]
            bp, bs, bx, ap, as_, ax = self.sides[sym]
            state = (bp, bs, bx, ap, as_, ax)
            if not bp or not ap or state == self.nbbo.get(sym):
                continue
            self.nbbo[sym] = state
            msg = {
                "T": "q",
                "S": sym,
                "bx": bx,
                "bp": bp,
                "bs": max(1, int(bs) // 100),
                "ax": ax,
                "ap": ap,
                "as": max(1, int(as_) // 100),
                "c": ["R"],
                "z": STOCK_TAPE,
                "t": ns,
            }
            yield Recorded(
                rec.offset_ns,
                rec.symbol,
                f"quotes.{sym}",
                "q",
                {**msg, "_r": ns},
                self._count(f"quotes.{sym}"),
            )


SLICE_EVENTS = {
    "lean.trade": (Market.STOCKS, ("trades", "bars", "dailyBars", "lulds")),
    "lean.quote": (Market.STOCKS, ("quotes",)),
    "lean.option_trade_bar": (Market.OPTIONS, ("trades",)),
    "lean.option_quote_bar": (Market.OPTIONS, ("quotes",)),
}
BINANCE_EVENTS = {
    "binance_trade": ("trades", "bars", "dailyBars"),
    "binance_bookTicker": ("quotes",),
    "binance_depth": ("orderbooks",),
}


class AlpacaTape:
    """The Alpaca slices and Binance recordings as one replay tape (:class:`Tape`)."""

    def __init__(self) -> None:
        self.markets: dict[str, Market] = {}  # symbol -> market
        self._streams: dict[str, str] = {}
        self._snapshots: dict[str, dict[str, Any]] = {}

    def classify(self, record: Record) -> Item | None:
        """Slice records by their stream; Binance records as crypto; anything else is not replayed."""
        if record.src in ("connect", "config"):
            return None
        stream = record.stream or ""
        if stream.startswith("lean.") or stream == "news":
            data, ns = record.data, record.time_ns
            if not isinstance(data, dict) or ns is None:
                raise RecordingError(f"{record.where()}: slice record without payload or time")
            if stream == "news":
                return ns, "", stream, "news", {**data, "_ns": ns}
            if stream not in SLICE_EVENTS or not isinstance(data.get("S"), str):
                raise RecordingError(f"{record.where()}: unknown slice record {stream!r}")
            return ns, data["S"], stream, stream, {**data, "_ns": ns}
        item = _binance_item(record)
        if item is None:
            return None
        return (*item[:4], {**item[4], "_ns": item[0]})

    def scan(self, item: Item, where: str) -> None:
        """Learn the symbols, their markets, the streams and the first book snapshots."""
        _, symbol, _, event, data = item
        if event == "news":
            self._streams[NEWS_STREAM] = ""
            return
        if event == "snapshot":
            self._snapshots.setdefault(symbol, data)
            self.markets[symbol] = Market.CRYPTO
            return
        if event in SLICE_EVENTS:
            market, channels = SLICE_EVENTS[event]
        else:
            market, channels = Market.CRYPTO, BINANCE_EVENTS[event]
        self.markets[symbol] = market
        for channel in channels:
            self._streams[f"{channel}.{symbol}"] = symbol

    def venue_id(self, event: str, data: dict[str, Any]) -> int:
        """A raw record's id is its recorded time (``_ns``, set by :meth:`classify`); the deriver gives every
        published message its own key."""
        ns = data.get("_ns", 0)
        return ns if isinstance(ns, int) else 0

    @property
    def symbols(self) -> list[str]:
        """Stock, option and crypto symbols seen by the scan."""
        return sorted(self.markets)

    @property
    def streams(self) -> dict[str, str]:
        """Replay streams -> their symbol (``news`` -> "")."""
        return dict(self._streams)

    def deriver(self) -> AlpacaDeriver:
        """The deriver of one replay."""
        return AlpacaDeriver()

    def shift_loop(self, rec: Recorded, loop_index: int) -> Recorded:
        """Trade and news ids, and the keys of order-book diffs and snapshots, move by ``LOOP_ID_STRIDE``
        per loop (so each loop's book starts again from the recorded snapshot)."""
        data = rec.data
        shift = loop_index * LOOP_ID_STRIDE
        if rec.event in ("t", "n") and isinstance(data.get("i", data.get("id")), int):
            data = dict(data)
            if "i" in data:
                data["i"] += shift
            else:
                data["id"] += shift
            return Recorded(rec.offset_ns, rec.symbol, rec.stream, rec.event, data, rec.venue_id + shift)
        if rec.event in ("o", "snapshot"):
            return Recorded(rec.offset_ns, rec.symbol, rec.stream, rec.event, data, rec.venue_id + shift)
        return Recorded(rec.offset_ns, rec.symbol, rec.stream, rec.event, data, rec.venue_id)

    def loop_restart(self, loop_index: int, offset_ns: int) -> list[Recorded]:
        """Nothing: the recorded snapshot, replayed with each loop, restarts the crypto book."""
        return []

    def clone(self, rec: Recorded, index: int, symbol: str, stream: str) -> Recorded:
        """The same message under the clone's symbol (news items are not cloned)."""
        if rec.event == "n":  # an item is not a symbol's: clones get none (the model publishes nothing)
            return Recorded(rec.offset_ns, "", "", "skip", {"T": "skip"}, 0)
        data = dict(rec.data)
        if "S" in data:
            data["S"] = symbol
        # The replay's clone stream names are Binance's (lower case, ``@``): Alpaca's are <channel>.<symbol>.
        own = f"{rec.stream.partition('.')[0]}.{symbol}" if rec.stream else ""
        return Recorded(rec.offset_ns, symbol, own, rec.event, data, rec.venue_id)

    def initial_snapshot(self, symbol: str) -> dict[str, Any] | None:
        """The first recorded Binance depth snapshot of a crypto symbol."""
        return self._snapshots.get(symbol)


__all__ = ["AlpacaTape", "crypto_symbol", "trade_key"]
