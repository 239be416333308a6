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
from collections.abc import Awaitable
from typing import Any, cast

import websockets

from harness.measure import new_histogram, record_ns, summary
from mock_venues import registry as venue_registry
from mock_venues.base.reference import ReferenceClient
from mock_venues.base.venue import VenueConfig
from mock_venues.recordings import bundled

CEILING_STREAMS = ("btcusdt@trade", "btcusdt@aggTrade", "btcusdt@depth@100ms", "btcusdt@bookTicker")
"""The calibration workload: the bundled Binance spot BTCUSDT capture, every stream of the baseline."""


async def latency_ceiling(
    *,
    venue: str = "binance-spot",
    recording: str = "spot-btcusdt",
    speed: float = 20.0,
    seconds: float = 3.0,
    streams: tuple[str, ...] = CEILING_STREAMS,
) -> dict[str, Any]:
    """p50/p99/p99.9/max (ms) from intended send time to a bare client's receive, and its msg/s."""
    cls = venue_registry.venue_class(venue)
    config = VenueConfig(recordings=bundled(recording), speed=speed, autostart=False)
    async with cls(config) as running:
        full = cls.reference_client(running.ws_url, list(streams))
        client = ReferenceClient(full.url, full.frame_ids, full.subscribe)  # ids only: no book work

        async with websockets.connect(client.url, max_size=None, compression=None) as ws:
            for request in client.subscribe:
                await ws.send(request)
            running.start_replay()
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                try:
                    frame = await asyncio.wait_for(cast(Awaitable[bytes], ws.recv(decode=False)), left)
                except TimeoutError:
                    break
                client.on_frame(frame, time.monotonic_ns())
        intended: dict[tuple[str, int], int] = {}
        for row in running.timeline.rows():
            intended.setdefault((row.stream, row.venue_id), row.intended_ns)
        replay_of = {name: running.replay_stream_for(name) or name for name in streams}
    hist = new_histogram()
    for stream, ident, recv_ns in client.arrivals:
        sent = intended.get((replay_of.get(stream, stream), ident))
        if sent is not None:
            record_ns(hist, recv_ns - sent)
    return {
        "what": f"bare {venue} client reading the venue directly, {recording} x{speed:g}, {seconds:g} s",
        "latency": summary(hist),
        "msg_s": round(len(client.arrivals) / seconds, 1),
    }
