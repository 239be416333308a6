"""Acceptance: Binance's own spot SDK (binance-sdk-spot) works against the mock with only its URLs changed.

The SDK connects to bare `/stream`, subscribes live with UUID-string ids (0.5 s apart), dispatches by the
combined wrapper's `stream`, validates payloads with strict pydantic models, and fetches REST with its own
client. A local book built from what the SDK delivered, by Binance's documented procedure, must equal the
venue's true book.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from binance_common.configuration import ConfigurationRestAPI, ConfigurationWebSocketStreams
from binance_sdk_spot.spot import Spot

from feed.binance_spot.book_sync import BookSync, Step
from tests.venue.conftest import VenueFactory

pytestmark = [pytest.mark.sdk, pytest.mark.timeout(120)]


def _dump(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(by_alias=True) if hasattr(model, "model_dump") else dict(model)
    return data


async def test_sdk_streams_and_rest_against_the_mock(venue_factory: VenueFactory) -> None:
    async with venue_factory("spot-btcusdt", speed=20.0) as venue:
        client = Spot(
            config_ws_streams=ConfigurationWebSocketStreams(stream_url=venue.ws_url),
            config_rest_api=ConfigurationRestAPI(base_path=venue.rest_url),
        )
        trades: list[dict[str, Any]] = []
        diffs: list[dict[str, Any]] = []
        tickers: list[dict[str, Any]] = []
        connection = await client.websocket_streams.create_connection()
        try:
            trade_stream = await connection.trade(symbol="btcusdt")
            trade_stream.on("message", lambda m: trades.append(_dump(m)))
            depth_stream = await connection.diff_book_depth(symbol="btcusdt", update_speed="100ms")
            depth_stream.on("message", lambda m: diffs.append(_dump(m)))
            ticker_stream = await connection.book_ticker(symbol="btcusdt")
            ticker_stream.on("message", lambda m: tickers.append(_dump(m)))

            # REST through the SDK's own (synchronous) client, off the event loop.
            info = (await asyncio.to_thread(client.rest_api.exchange_info, symbol="BTCUSDT")).data()
            assert [s.symbol for s in info.symbols] == ["BTCUSDT"]

            venue.start_replay()
            await asyncio.sleep(3.0)  # ~60 s of recording at x20: the first diffs are buffered
            book = BookSync("BTCUSDT")
            seen = len(diffs)
            for d in diffs[:seen]:
                book.on_diff(d["U"], d["u"], d["b"], d["a"])
            snap = (await asyncio.to_thread(client.rest_api.depth, symbol="BTCUSDT", limit=5000)).data()
            assert book.apply_snapshot(snap.last_update_id, snap.bids, snap.asks) is Step.SYNCED
            await asyncio.sleep(2.0)
            # Stall the venue's sender so the true book and what the SDK received describe one instant.
            venue.stall(3.0)
            await asyncio.sleep(0.5)
            for d in diffs[seen:]:
                assert book.on_diff(d["U"], d["u"], d["b"], d["a"]) in (
                    Step.APPLIED,
                    Step.STALE,
                    Step.BUFFERED,
                )
            true = venue.true_book("BTCUSDT", limit=100_000)
        finally:
            await connection.close_connection(close_session=True)

    assert trades and diffs and tickers
    assert all(isinstance(t["t"], int) and isinstance(t["p"], str) for t in trades)
    assert [t["t"] for t in trades] == venue.history.ids("btcusdt@trade")[: len(trades)]
    assert book.book.last_update_id == true["id"]
    bids, asks = book.book.top()
    assert bids == true["bids"] and asks == true["asks"]
