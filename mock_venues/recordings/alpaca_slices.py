"""Rebuild the Alpaca venue's bundled slices from the shared candidate recordings (../shared).

    python -m mock_venues.recordings.alpaca_slices [--shared PATH] [--start 09:29] [--end 09:40]

Reads (never at run time; the venue replays the slices written here):

* ``candidates/lean/Data/equity/usa/tick/{ibm,bac}/20131007_{trade,quote}.zip``: AlgoSeek tick trades and
  per-exchange quote updates (LEAN format, Apache-2.0, QuantConnect/Lean); rows in the window, unchanged
  but for prices (LEAN stores price x 10000; here as decimals) and the time (ms after midnight ET -> UTC ns).
* ``candidates/lean/Data/option/usa/minute/spy/20230803_{trade,quote}_american.zip``: AlgoSeek minute
  trade and quote bars of four SPY options (the venue derives option trades and quotes from them).
* ``candidates/polygon/.../v2/reference/news&ticker=NFLX.json`` and ``candidates/tiingo/.../news.yaml``:
  the two real news items (their texts and times unchanged; the replay time is assigned, see PROVENANCE.md).

Writes ``alpaca_stocks_news_20131007.norm.jsonl.gz`` and ``alpaca_options_spy_20230803.norm.jsonl.gz``
(normalized recordings, :mod:`tickstorm.recording`; streams ``lean.trade``, ``lean.quote``,
``lean.option_trade_bar``, ``lean.option_quote_bar``, ``news``).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
STOCKS_OUT = "alpaca_stocks_news_20131007.norm.jsonl.gz"
OPTIONS_OUT = "alpaca_options_spy_20230803.norm.jsonl.gz"
EDT = timedelta(hours=4)  # both days are in US daylight saving time: ET = UTC-4
NEWS_REPLAY_ET = ("09:30:30", "09:33:00")  # where the two news items are placed on the stocks timeline
PRICE_SCALE = 10000


def _utc_ns(day: str, ms_et: int) -> int:
    midnight_utc = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC) + EDT
    return int(midnight_utc.timestamp()) * 10**9 + ms_et * 10**6


def _ms(hhmm: str) -> int:
    parts = [int(p) for p in hhmm.split(":")]
    while len(parts) < 3:
        parts.append(0)
    return ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000


def _rows(path: Path) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    with zipfile.ZipFile(path) as zf:
        for name in sorted(zf.namelist()):
            text = zf.read(name).decode()
            out.extend((name, row) for row in csv.reader(io.StringIO(text)) if row)
    return out


def _price(text: str) -> float:
    return round(int(text) / PRICE_SCALE, 4)


def _record(ns: int, stream: str, data: dict[str, Any], src_url: str) -> bytes:
    return orjson.dumps(
        {"ts": ns / 1e9, "recv_ns": ns, "src": "ws", "stream": stream, "data": data, "url": src_url}
    )


def stock_records(shared: Path, start_ms: int, end_ms: int) -> list[tuple[int, bytes]]:
    """Trades and per-exchange quote rows of IBM and BAC on 2013-10-07 inside [start, end) ET."""
    tick = shared / "candidates/lean/Data/equity/usa/tick"
    out: list[tuple[int, bytes]] = []
    for symbol in ("IBM", "BAC"):
        for kind in ("trade", "quote"):
            rel = f"{symbol.lower()}/20131007_{kind}.zip"
            url = f"lean:Data/equity/usa/tick/{rel}"
            for _, row in _rows(tick / rel):
                ms = int(row[0])
                if not start_ms <= ms < end_ms:
                    continue
                ns = _utc_ns("20131007", ms)
                if kind == "trade":  # ms, price, size, exchange, sale condition (hex flags), suspicious
                    data = {
                        "S": symbol,
                        "p": _price(row[1]),
                        "s": int(row[2]),
                        "x": row[3],
                        "c": row[4],
                        "susp": int(row[5]),
                    }
                else:  # ms, bid, bid size, ask, ask size, exchange, condition, suspicious
                    data = {
                        "S": symbol,
                        "bp": _price(row[1]),
                        "bs": int(row[2]),
                        "ap": _price(row[3]),
                        "as": int(row[4]),
                        "x": row[5],
                        "c": row[6],
                        "susp": int(row[7]),
                    }
                out.append((ns, _record(ns, f"lean.{kind}", data, url)))
    return out


def _occ(name: str) -> str:
    """``20230803_spy_minute_trade_american_call_4300000_20230901.csv`` -> ``SPY230901C00430000``."""
    m = re.match(r"\d{8}_(\w+?)_minute_\w+?_american_(call|put)_(\d+)_(\d{8})\.csv", name)
    if m is None:
        raise ValueError(f"unexpected option file name {name}")
    root, right, strike, expiry = m.groups()
    return f"{root.upper()}{expiry[2:]}{right[0].upper()}{int(strike) // 10:08d}"


def option_records(shared: Path, start_ms: int, end_ms: int) -> list[tuple[int, bytes]]:
    """SPY option minute trade and quote bars of 2023-08-03 starting inside [start, end) ET, each placed at
    the end of its minute (``t`` in the data: the bar's start, Unix ns)."""
    base = shared / "candidates/lean/Data/option/usa/minute/spy"
    out: list[tuple[int, bytes]] = []
    for kind in ("trade", "quote"):
        url = f"lean:Data/option/usa/minute/spy/20230803_{kind}_american.zip"
        for name, row in _rows(base / f"20230803_{kind}_american.zip"):
            ms = int(row[0])
            if not start_ms <= ms < end_ms:
                continue
            ns = _utc_ns("20230803", ms + 60_000)  # a minute bar is known when its minute ends
            symbol = _occ(name)
            if kind == "trade":  # ms, open, high, low, close, volume
                data: dict[str, Any] = {
                    "S": symbol,
                    "t": _utc_ns("20230803", ms),
                    "o": _price(row[1]),
                    "h": _price(row[2]),
                    "l": _price(row[3]),
                    "c": _price(row[4]),
                    "v": int(row[5]),
                }
            else:  # ms, bid o h l c, bid size, ask o h l c, ask size
                data = {
                    "S": symbol,
                    "t": _utc_ns("20230803", ms),
                    "bo": _price(row[1]),
                    "bh": _price(row[2]),
                    "bl": _price(row[3]),
                    "bc": _price(row[4]),
                    "bs": int(row[5]),
                    "ao": _price(row[6]),
                    "ah": _price(row[7]),
                    "al": _price(row[8]),
                    "ac": _price(row[9]),
                    "as": int(row[10]),
                }
            out.append((ns, _record(ns, f"lean.option_{kind}_bar", data, url)))
    return out


def news_items(shared: Path) -> list[dict[str, Any]]:
    """The Polygon and the Tiingo news item, fields renamed to Alpaca's (texts and times unchanged)."""
    poly_path = shared / "candidates/polygon/test_rest/mocks/v2/reference/news&ticker=NFLX.json"
    poly = orjson.loads(poly_path.read_bytes())["results"][0]
    yaml_text = (shared / "candidates/tiingo/tests/fixtures/news.yaml").read_text()
    body = yaml_text.split("body: {string: '", 1)[1].split("'}\n", 1)[0]
    tiingo = orjson.loads(body)[0]
    return [
        {
            "id": 1,
            "headline": poly["title"],
            "summary": poly["description"],
            "author": poly["author"],
            "created_at": poly["published_utc"],
            "updated_at": poly["published_utc"],
            "url": poly["article_url"],
            "content": "",
            "symbols": poly["tickers"],
            "source": "marketwatch",
            "provider": "polygon",
            "provider_id": poly["id"],
        },
        {
            "id": 2,
            "headline": tiingo["title"],
            "summary": tiingo["description"],
            "author": "",
            "created_at": tiingo["publishedDate"],
            "updated_at": tiingo["publishedDate"],
            "url": tiingo["url"],
            "content": "",
            "symbols": [t.upper() for t in tiingo["tickers"]],
            "source": tiingo["source"],
            "provider": "tiingo",
            "provider_id": tiingo["id"],
        },
    ]


def build(shared: Path, out_dir: Path, start: str, end: str) -> dict[str, int]:
    """Write both slices; returns records per file."""
    start_ms, end_ms = _ms(start), _ms(end)
    stocks = stock_records(shared, start_ms, end_ms)
    for item, when in zip(news_items(shared), NEWS_REPLAY_ET, strict=True):
        ns = _utc_ns("20131007", _ms(when))
        stocks.append((ns, _record(ns, "news", item, f"{item['provider']}:news")))
    options = option_records(shared, start_ms, end_ms)
    counts = {}
    for name, records in ((STOCKS_OUT, stocks), (OPTIONS_OUT, options)):
        records.sort(key=lambda r: r[0])  # stable: file order within one time
        with gzip.GzipFile(out_dir / name, "wb", mtime=0) as fh:
            for _, line in records:
                fh.write(line + b"\n")
        counts[name] = len(records)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--shared", type=Path, default=HERE.parents[2] / "shared" / "recordings")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--start", default="09:29", help="first minute (ET), default 09:29")
    parser.add_argument("--end", default="09:40", help="end (ET, exclusive), default 09:40")
    args = parser.parse_args()
    for name, count in build(args.shared, args.out, args.start, args.end).items():
        print(f"{name}: {count} records")


if __name__ == "__main__":
    main()
