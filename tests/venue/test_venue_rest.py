"""REST through a running venue: snapshots match the true book, recorded exchangeInfo, request history."""

from __future__ import annotations

import aiohttp
import pytest

from mock_venues.binance_spot.book import diff_books
from tests.venue.conftest import VenueFactory

pytestmark = pytest.mark.timeout(60)


async def test_depth_is_the_true_book_and_requests_are_recorded(venue_factory: VenueFactory) -> None:
    async with venue_factory() as venue, aiohttp.ClientSession() as http:
        venue.start_replay()
        await venue.wait_replay_done(20)
        params = {"symbol": "NKNUSDT", "limit": "5000"}
        async with http.get(f"{venue.rest_url}/api/v3/depth", params=params) as r:
            assert r.status == 200
            assert r.headers["X-MBX-USED-WEIGHT-1M"] == "250"
            body = await r.json()
    true = venue.true_book("NKNUSDT")
    assert diff_books({"lastUpdateId": true["id"], "bids": true["bids"], "asks": true["asks"]}, body) == []
    assert body["lastUpdateId"] == 499870179  # the last recorded NKNUSDT diff
    rest = [e.detail for e in venue.history.events if e.event == "rest"]
    expected = {"method": "GET", "path": "/api/v3/depth", "status": 200, "weight": 250, "ip": "127.0.0.1"}
    assert rest == [expected]


async def test_exchange_info_serves_recorded_filters_and_clones(venue_factory: VenueFactory) -> None:
    async with venue_factory(fanout=2) as venue, aiohttp.ClientSession() as http:
        async with http.get(f"{venue.rest_url}/api/v3/exchangeInfo") as r:
            info = await r.json()
    by_symbol = {s["symbol"]: s for s in info["symbols"]}
    assert set(by_symbol) == set(venue.market.symbols)
    price_filter = next(f for f in by_symbol["NKNUSDT"]["filters"] if f["filterType"] == "PRICE_FILTER")
    assert price_filter["tickSize"] == "0.00010000"  # as recorded on 2021-10-12
    assert by_symbol["NKNUSDTF001"]["status"] == "TRADING"
