"""Real recorded Binance spot messages shipped with tickstorm, and where to find the larger shared set.

The files are normalized JSON Lines (one ``{"ts","stream","data","src","url","recv_ns"}`` object per line,
gzipped); ``PROVENANCE.md`` in this folder says where each one comes from and under which licence.
A *bundled set* is a named group of files that replay together as one timeline.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tickstorm.recording import read_recording

HERE = Path(__file__).resolve().parent

BUNDLED_SETS: dict[str, tuple[str, ...]] = {
    # hftbacktest: one continuous BTCUSDT capture split at midnight UTC (~11 min, 99,573 frames).
    "spot-btcusdt": ("btcusdt_20240808.norm.jsonl.gz", "btcusdt_20240809.norm.jsonl.gz"),
    # cryptofeed 2021: BTCUSDT/ETHUSDT/DOTUSDT depth, aggTrade, kline_1m (92 s).
    "spot-multi-2021": ("cryptofeed-2997020831-BINANCE-ee25be.0.norm.jsonl.gz",),
    # cryptofeed 2021: ten symbols, depth, bookTicker, aggTrade (120 s).
    "spot-10sym-2021": ("cryptofeed-7136ce8d0d-BINANCE-b38f7c.0.norm.jsonl.gz",),
    # cryptofeed 2021: four symbols on one connection plus their REST snapshots (31 s).
    "spot-4sym-2021": (
        "cryptofeed-b90fa9b87c-BINANCE.ws.1.0.norm.jsonl.gz",
        "cryptofeed-b90fa9b87c-BINANCE.http.0.0.norm.jsonl.gz",
    ),
    # Alpaca venue: AlgoSeek IBM/BAC ticks 2013-10-07 09:29-09:40 ET and two news items (stocks, news),
    # AlgoSeek SPY option minute bars 2023-08-03 (options, derived), the BTCUSDT capture above (crypto).
    "alpaca": (
        "alpaca_stocks_news_20131007.norm.jsonl.gz",
        "alpaca_options_spy_20230803.norm.jsonl.gz",
        "btcusdt_20240808.norm.jsonl.gz",
        "btcusdt_20240809.norm.jsonl.gz",
    ),
}
BUNDLED = frozenset(BUNDLED_SETS)
BUNDLED_FORMATS: dict[str, str] = {name: "binance" for name in BUNDLED_SETS}
BUNDLED_FORMATS["alpaca"] = "alpaca"
"""The recording format of each bundled set (which venue tapes read it: VenueBase.recording_formats)."""
EXCHANGE_INFO_FILE = "cryptofeed-b90fa9b87c-BINANCE.0.norm.jsonl.gz"  # one recorded /api/v3/exchangeInfo


def bundled(name: str) -> list[Path]:
    """The files of a bundled set; ``KeyError`` with the known names when ``name`` is not one."""
    try:
        files = BUNDLED_SETS[name]
    except KeyError:
        raise KeyError(
            f"unknown bundled recording set {name!r}; known: {', '.join(sorted(BUNDLED))}"
        ) from None
    return [HERE / f for f in files]


def recorded_exchange_info() -> dict[str, Any]:
    """The recorded exchangeInfo document (2021-10-12, every spot symbol of that day)."""
    for record in read_recording(HERE / EXCHANGE_INFO_FILE):
        if record.src == "rest" and isinstance(record.data, dict):
            data: dict[str, Any] = record.data
            return data
    raise ValueError(f"{EXCHANGE_INFO_FILE} holds no exchangeInfo response")


SHARED_BINANCE_SOURCES = ("hftbacktest", "cryptofeed")
SHARED_FUTURES = ("hftbacktest/usdm/", "hftbacktest/cm/", "BINANCE_FUTURES")
"""Shared captures of Binance's futures markets (USD-M, COIN-M): the spot venue refuses them."""


def shared_stream_recordings(market: str = "spot") -> list[Path]:
    """The WebSocket captures of Binance ``market`` (``spot`` or ``futures``) in the shared set (REST-only
    files left out); [] when the shared set is absent."""
    shared = shared_recordings_dir()
    if shared is None:
        return []
    files = [p for src in SHARED_BINANCE_SOURCES for p in (shared / src).rglob("*.norm.jsonl*")]
    streams = [p for p in files if ".http." not in p.name and p.name != "BINANCE.0.norm.jsonl"]
    futures = [p for p in streams if any(marker in str(p) for marker in SHARED_FUTURES)]
    return sorted(futures if market == "futures" else set(streams) - set(futures))


def shared_recordings_dir() -> Path | None:
    """The larger shared set (``$TICKSTORM_SHARED_RECORDINGS`` or ../shared/recordings), if present."""
    env = os.environ.get("TICKSTORM_SHARED_RECORDINGS")
    candidates = [Path(env)] if env else []
    candidates.append(HERE.parents[2] / "shared" / "recordings")
    for path in candidates:
        if (path / "PROVENANCE.md").is_file():
            return path
    return None
