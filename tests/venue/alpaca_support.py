"""Helpers of the Alpaca venue tests: an in-process venue, alpaca-py streams run in threads, raw clients."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgpack
import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from mock_venues.alpaca.server import AlpacaVenue
from mock_venues.base.venue import VenueConfig
from mock_venues.recordings import bundled


@asynccontextmanager
async def alpaca_venue(**overrides: Any) -> AsyncIterator[AlpacaVenue]:
    """The bundled Alpaca set on 127.0.0.1, paused, as fast as possible unless overridden."""
    extra = overrides.pop("extra", {})
    params: dict[str, Any] = {
        "recordings": bundled("alpaca"),
        "speed": None,
        "autostart": False,
        "extra": extra,
    }
    params.update(overrides)
    async with AlpacaVenue(VenueConfig(**params)) as venue:
        yield venue


@asynccontextmanager
async def running_stream(stream: Any) -> AsyncIterator[Any]:
    """Run an alpaca-py DataStream (its own event loop) in a thread; stop it and join on exit."""
    thread = threading.Thread(target=stream.run, daemon=True, name="alpaca-py")
    thread.start()
    try:
        yield stream
    finally:
        for _ in range(100):  # stop() needs the stream's loop to exist
            if getattr(stream, "_loop", None) is not None:
                break
            await asyncio.sleep(0.05)
        if getattr(stream, "_loop", None) is not None:
            await asyncio.to_thread(stream.stop)
        await asyncio.to_thread(thread.join, 20)
        assert not thread.is_alive(), "alpaca-py stream did not stop"


async def wait_for(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll until ``predicate()`` holds (AssertionError naming ``what`` after ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def collector(into: list[Any]) -> Callable[[Any], Awaitable[None]]:
    """An alpaca-py handler appending what it gets."""

    async def handler(item: Any) -> None:
        into.append(item)

    return handler


def connect(url: str, msgpack_encoding: bool = False, **kwargs: Any) -> Any:
    """A raw client (JSON unless ``msgpack_encoding``), no compression unless asked."""
    headers = dict(kwargs.pop("additional_headers", {}))
    headers["Content-Type"] = "application/msgpack" if msgpack_encoding else "application/json"
    kwargs.setdefault("compression", None)
    return websockets.connect(url, additional_headers=headers, max_size=2**24, **kwargs)


async def recv(ws: ClientConnection, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The next frame, decoded from JSON (text) or msgpack (binary)."""
    frame = await asyncio.wait_for(ws.recv(), timeout)
    if isinstance(frame, bytes):
        return list(msgpack.unpackb(frame))
    return list(orjson.loads(frame))


async def send(ws: ClientConnection, msg: dict[str, Any], msgpack_encoding: bool = False) -> None:
    """Send a request in the session's encoding."""
    await ws.send(msgpack.packb(msg) if msgpack_encoding else orjson.dumps(msg).decode())


async def recv_until(
    ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
) -> dict[str, Any]:
    """The first message (of any frame) matching ``predicate``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        for msg in await recv(ws, max(0.1, deadline - loop.time())):
            if predicate(msg):
                return msg
