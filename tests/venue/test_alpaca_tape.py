"""The Alpaca tape: trade ids per exchange, the NBBO from per-exchange quotes, bars, options, news, crypto."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from mock_venues.alpaca.tape import EXCHANGE_KEY, AlpacaDeriver, AlpacaTape, crypto_symbol, trade_key
from mock_venues.recordings import bundled
from mock_venues.replay.records import Recorded
from mock_venues.replay.source import ReplaySource

OPEN_NS = 1_381_152_600 * 10**9  # 2013-10-07 09:30:00 ET


def _raw(ns: int, event: str, symbol: str, **data: Any) -> Recorded:
    return Recorded(0, symbol, event, event, {"S": symbol, **data, "_ns": ns}, ns)


def _quote(ns: int, x: str, bp: float = 0.0, bs: int = 0, ap: float = 0.0, as_: int = 0) -> Recorded:
    return _raw(ns, "lean.quote", "IBM", bp=bp, bs=bs, ap=ap, **{"as": as_}, x=x, c="1", susp=0)


def _trade(ns: int, x: str, p: float, s: int = 100) -> Recorded:
    return _raw(ns, "lean.trade", "IBM", p=p, s=s, x=x, c="1", susp=0)


def test_trade_ids_count_per_exchange_and_keys_are_unique() -> None:
    out = list(
        AlpacaDeriver().derive(
            iter(
                [
                    _trade(OPEN_NS + 1, "N", 181.0),
                    _trade(OPEN_NS + 2, "P", 181.1),
                    _trade(OPEN_NS + 3, "N", 181.2),
                ]
            )
        )
    )
    trades = [r for r in out if r.event == "t"]
    assert [(r.data["x"], r.data["i"]) for r in trades] == [("N", 1), ("P", 1), ("N", 2)]
    assert [r.venue_id for r in trades] == [
        ord("N") * EXCHANGE_KEY + 1,
        ord("P") * EXCHANGE_KEY + 1,
        ord("N") * EXCHANGE_KEY + 2,
    ]
    assert trades[0].stream == "trades.IBM" and trades[0].data["c"] == ["@"] and trades[0].data["z"] == "A"
    luld = [r for r in out if r.event == "l"]
    assert len(luld) == 1 and luld[0].data["u"] == round(181.0 * 1.05, 2)  # one band at the first trade


def test_nbbo_from_the_quote_sides_once_per_millisecond() -> None:
    out = list(
        AlpacaDeriver().derive(
            iter(
                [
                    _quote(1, "N", bp=181.0, bs=300),  # bid only: no NBBO yet
                    _quote(2, "Q", bp=181.1, bs=200),  # one millisecond: bid and ask rows, one quote
                    _quote(2, "P", ap=181.5, as_=200),
                    _quote(3, "P", bp=181.1, bs=200),  # same state: no quote
                    _quote(4, "K", ap=181.4, as_=50),
                    _trade(5, "N", 181.2),
                ]
            )
        )
    )
    quotes = [
        (r.data["bx"], r.data["bp"], r.data["bs"], r.data["ax"], r.data["ap"], r.data["as"], r.data["t"])
        for r in out
        if r.event == "q"
    ]
    assert quotes == [
        ("Q", 181.1, 2, "P", 181.5, 2, 2),
        ("P", 181.1, 2, "P", 181.5, 2, 3),
        ("P", 181.1, 2, "K", 181.4, 1, 4),
    ]
    assert out[-1].event == "t"  # quotes of earlier milliseconds go out before the next record


def test_minute_and_daily_bars_close_with_the_next_minute() -> None:
    out = list(
        AlpacaDeriver().derive(
            iter(
                [
                    _trade(OPEN_NS + 1, "N", 10.0, 100),
                    _trade(OPEN_NS + 2, "N", 12.0, 300),
                    _trade(OPEN_NS + 60 * 10**9, "N", 11.0, 100),
                ]
            )
        )
    )
    bar = next(r.data for r in out if r.event == "b")
    assert {k: bar[k] for k in ("o", "h", "l", "c", "v", "n", "t")} == {
        "o": 10.0,
        "h": 12.0,
        "l": 10.0,
        "c": 12.0,
        "v": 400,
        "n": 2,
        "t": OPEN_NS,
    }
    assert bar["vw"] == 11.5
    daily = next(r.data for r in out if r.event == "d")
    assert daily["t"] == OPEN_NS - (9 * 3600 + 1800) * 10**9  # midnight ET


def test_options_news_and_crypto_shapes() -> None:
    ns = 1_691_069_460 * 10**9
    out = list(
        AlpacaDeriver().derive(
            iter(
                [
                    _raw(
                        ns,
                        "lean.option_trade_bar",
                        "SPY230901C00470000",
                        t=ns - 60 * 10**9,
                        o=0.65,
                        h=0.67,
                        l=0.65,
                        c=0.66,
                        v=13,
                    ),
                    Recorded(
                        0,
                        "",
                        "news",
                        "news",
                        {
                            "id": 1,
                            "headline": "h",
                            "summary": "s",
                            "author": "a",
                            "created_at": "2022-04-28T17:08:00Z",
                            "updated_at": "2022-04-28T17:08:00Z",
                            "url": "u",
                            "content": "",
                            "symbols": ["NFLX"],
                            "source": "marketwatch",
                            "provider": "polygon",
                            "_ns": ns,
                        },
                        ns,
                    ),
                    Recorded(
                        0,
                        "BTC/USD",
                        "btcusdt@trade",
                        "binance_trade",
                        {"s": "BTCUSDT", "t": 7, "p": "61837.63", "q": "0.02", "m": True, "_ns": ns},
                        ns,
                    ),
                ]
            )
        )
    )
    opt, news, crypto = out
    assert opt.stream == "trades.SPY230901C00470000" and opt.data["p"] == 0.66 and opt.data["s"] == 13
    assert news.stream == "news.*" and news.venue_id == 1 and news.data["created_at"] == 1_651_165_680 * 10**9
    assert crypto.stream == "trades.BTC/USD" and crypto.data["tks"] == "S" and crypto.venue_id == 7
    assert crypto_symbol("BTCUSDT") == "BTC/USD" and crypto_symbol("ETHBTC") == "ETH/BTC"


def test_bundled_set_ids_are_unique_per_exchange_and_step_by_one() -> None:
    tape = AlpacaTape()
    source = ReplaySource(bundled("alpaca"), tape)
    assert tape.markets["IBM"].value == "stocks" and tape.markets["BTC/USD"].value == "crypto"
    ids: dict[tuple[str, str], list[int]] = defaultdict(list)
    keys: set[tuple[str, int]] = set()
    kinds: dict[str, int] = defaultdict(int)
    for rec in source:
        kinds[rec.event] += 1
        if rec.event == "t" and rec.symbol in ("IBM", "BAC"):
            ids[(rec.symbol, rec.data["x"])].append(rec.data["i"])
            assert rec.venue_id == trade_key(rec.data["x"], rec.data["i"])
            assert (rec.symbol, rec.venue_id) not in keys  # history keys unique per stream
            keys.add((rec.symbol, rec.venue_id))
    for per_exchange in ids.values():
        assert per_exchange == list(range(1, len(per_exchange) + 1))
    assert {"t", "q", "b", "d", "l", "n", "o"} <= set(kinds)
    assert kinds["n"] == 2


def test_fanout_clones_symbols_but_not_news() -> None:
    source = ReplaySource(bundled("alpaca")[:1], AlpacaTape(), fanout=2)
    assert "IBMF001" in source.symbols
    news = [r for r in source if r.event == "n"]
    assert [r.data["id"] for r in news] == [1, 2]


def test_loop_moves_ids_on_so_keys_stay_unique() -> None:
    tape = AlpacaTape()
    source = ReplaySource([bundled("alpaca")[1]], tape, loop=True)  # the options file: 57 records a loop
    first = list(itertools.islice(iter(source), 60))
    option_trades = [r for r in first if r.event == "t"]
    assert len({(r.stream, r.venue_id) for r in option_trades}) == len(option_trades)
