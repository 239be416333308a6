"""The latency ceiling of this machine right now: a bare WebSocket client reading the venue directly.

Absolute latencies on a shared, noisy machine say as much about the neighbours as about the feed, so
baselines compare the feed's latency as a ratio to this ceiling, measured in the same run: the same venue,
the same replay speed and streams, no proxy and no feed, only a client that timestamps each frame and
reads the venue's id out of it. Latency is measured the same way as the feed's (from the intended send
time), so the ratio is the cost the proxy and the feed add.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import websockets

from harness.measure import new_histogram, record_ns, summary
from mock_venues.binance_spot.server import BinanceSpotVenue, VenueConfig
from mock_venues.recordings import bundled


def _id_field(stream: str) -> str:
    """The venue id of a stream's messages: trade id, aggregate id, or the final update id."""
    kind = stream.split("@", 1)[-1]
    return {"trade": "t", "aggTrade": "a"}.get(kind, "u")


async def latency_ceiling(
    *,
    recording: str = "spot-btcusdt",
    speed: float = 20.0,
    seconds: float = 3.0,
    streams: tuple[str, ...] = ("trade", "aggTrade", "depth@100ms", "bookTicker"),
    symbol: str = "btcusdt",
) -> dict[str, Any]:
    """p50/p99/p99.9/max (ms) from intended send time to a raw client's receive, and its msg/s."""
    received: list[tuple[str, int, int]] = []
    names = [f"{symbol}@{kind}" for kind in streams]
    config = VenueConfig(recordings=bundled(recording), speed=speed, autostart=False)
    async with BinanceSpotVenue(config) as venue:
        url = f"{venue.ws_url}/stream?streams={'/'.join(names)}"
        async with websockets.connect(url, max_size=None, compression=None) as ws:
            venue.start_replay()
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                try:
                    frame = await asyncio.wait_for(ws.recv(decode=False), left)
                except TimeoutError:
                    break
                now = time.monotonic_ns()
                doc = orjson.loads(frame)
                stream = doc.get("stream", "")
                ident = doc.get("data", {}).get(_id_field(stream))
                if isinstance(ident, int):
                    received.append((stream, ident, now))
        intended: dict[tuple[str, int], int] = {}
        for row in venue.timeline.rows():
            intended.setdefault((row.stream, row.venue_id), row.intended_ns)
        replay_of = {name: venue.replay_stream_for(name) or name for name in names}
    hist = new_histogram()
    for stream, ident, recv_ns in received:
        sent = intended.get((replay_of.get(stream, stream), ident))
        if sent is not None:
            record_ns(hist, recv_ns - sent)
    return {
        "what": f"raw websockets client reading the venue directly, {recording} x{speed:g}, {seconds:g} s",
        "latency": summary(hist),
        "msg_s": round(len(received) / seconds, 1),
    }
