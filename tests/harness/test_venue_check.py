"""`tickstorm venue-check`: the join of what reference clients received with the venue's history, and the
Alpaca venue's check set replayed for real (every endpoint, keyed and counted streams)."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from harness.venue_check import CheckResult, _check_ids, check_set
from mock_venues.base.reference import ReferenceClient


def history(rows: list[tuple[str, int]]) -> dict[str, Any]:
    names = sorted({s for s, _ in rows})
    return {
        "streams": names,
        "columns": {"stream": [names.index(s) for s, _ in rows], "venue_id": [v for _, v in rows]},
    }


def client(received: dict[str, list[int]], counted: dict[str, int]) -> ReferenceClient:
    return ReferenceClient("ws://127.0.0.1:1", lambda _: [], received=received, counted=counted)


def test_keyed_streams_join_by_id_and_unkeyed_streams_by_count() -> None:
    sent = history([("trades.IBM", 5), ("trades.IBM", 3), ("quotes.IBM", 1), ("quotes.IBM", 2)])
    ok = CheckResult("s", 1.0)
    _check_ids(
        sent, [client({"trades.IBM": [5, 3]}, {}), client({}, {"quotes.IBM": 2})], ok, ids_increase=False
    )
    assert ok.problems == []
    short = CheckResult("s", 1.0)
    _check_ids(sent, [client({"trades.IBM": [5]}, {"quotes.IBM": 1})], short, ids_increase=False)
    assert short.problems == [
        "trades.IBM: sent 2 ids, received 1 (first missing: [3])",
        "quotes.IBM: sent 2 messages, received 1",
    ]
    # A venue that promises increasing ids is held to it; one that does not is held to unique ids.
    ordered = CheckResult("s", 1.0)
    _check_ids(sent, [client({"trades.IBM": [5, 3]}, {"quotes.IBM": 2})], ordered)
    assert ordered.problems == ["trades.IBM: venue ids not strictly increasing"]
    repeated = CheckResult("s", 1.0)
    twice = history([("trades.IBM", 5), ("trades.IBM", 5)])
    _check_ids(twice, [client({"trades.IBM": [5, 5]}, {})], repeated, ids_increase=False)
    assert repeated.problems == ["trades.IBM: venue ids repeated"]


@pytest.mark.timeout(180)
async def test_the_alpaca_check_set_passes_on_every_endpoint() -> None:
    result = await check_set("alpaca", "alpaca", 50.0, Console(quiet=True))
    assert result.ok, result.problems
    assert result.streams == 23 and result.symbols == 7
    assert result.received > 100_000  # stocks, crypto, options and news, keyed and counted
