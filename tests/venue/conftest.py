"""Fixtures for venue tests: an in-process mock Binance spot venue on loopback, and small WS helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from mock_venues.binance_spot.server import BinanceSpotVenue, VenueConfig
from mock_venues.recordings import bundled

VenueFactory = Callable[..., Any]


@asynccontextmanager
async def running_venue(
    set_name: str = "spot-4sym-2021", **overrides: Any
) -> AsyncIterator[BinanceSpotVenue]:
    """A venue on 127.0.0.1 with free ports; paused and as fast as possible unless overridden."""
    params: dict[str, Any] = {"recordings": bundled(set_name), "speed": None, "autostart": False}
    params.update(overrides)
    async with BinanceSpotVenue(VenueConfig(**params)) as venue:
        yield venue


@pytest.fixture
def venue_factory() -> VenueFactory:
    """``async with venue_factory(**config) as venue:``."""
    return running_venue


async def recv_json(ws: ClientConnection, timeout: float = 5.0) -> Any:
    """The next frame, parsed."""
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def control(ws: ClientConnection, method: str, params: Any = None, id_: Any = 1) -> Any:
    """Send a control message and return the reply with the same id (data frames are skipped)."""
    msg: dict[str, Any] = {"method": method, "id": id_}
    if params is not None:
        msg["params"] = params
    await ws.send(orjson.dumps(msg).decode())
    while True:
        frame = await recv_json(ws)
        if isinstance(frame, dict) and "id" in frame and ("result" in frame or "error" in frame):
            return frame


async def collect_until_done(
    venue: BinanceSpotVenue, ws: ClientConnection, settle_s: float = 0.3, timeout: float = 60.0
) -> list[Any]:
    """Every frame received until the replay is done and the socket stayed quiet for ``settle_s``."""
    frames: list[Any] = []

    async def reader() -> None:
        async for raw in ws:
            frames.append(orjson.loads(raw))

    task = asyncio.create_task(reader())
    await venue.wait_replay_done(timeout)
    last = -1
    while last != len(frames):
        last = len(frames)
        await asyncio.sleep(settle_s)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return frames


def connect(url: str, **kwargs: Any) -> Any:
    """websockets.connect with a large max frame size and no compression."""
    return websockets.connect(url, max_size=2**24, compression=None, **kwargs)
