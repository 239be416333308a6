"""Subscriber side of the fan-out benchmark: N picows connections to the feed's downstream server.

``python -m benchmarks.fanout_subscribers WS_URL N SYMBOL CHANNEL`` connects N clients, subscribes each to
one (symbol, channel), prints ``{"ready": N}`` once every one has its ``subscribed`` reply, then counts the
event objects it receives until its standard input closes, and prints ``{"events": [...per client...]}``.
It runs in its own process so that its reading does not share the benchmarked event loop.
"""

from __future__ import annotations

import asyncio
import sys

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


class Counter(WSListener):  # type: ignore[misc]
    """Counts event objects (newline-separated JSON) and notices the subscribed reply."""

    def __init__(self, subscribed: asyncio.Event) -> None:
        self.events = 0
        self.subscribed = subscribed

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            payload = frame.get_payload_as_bytes()
            if not self.subscribed.is_set():
                for line in payload.split(b"\n"):
                    if orjson.loads(line).get("type") == "subscribed":
                        self.subscribed.set()
                return
            self.events += payload.count(b"\n") + 1
        elif frame.msg_type == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()


async def main(url: str, n: int, symbol: str, channel: str) -> None:
    """Connect, subscribe, report ready, count until stdin closes, report counts."""
    listeners: list[Counter] = []
    transports: list[WSTransport] = []
    for _ in range(n):
        subscribed = asyncio.Event()
        transport, listener = await ws_connect(lambda s=subscribed: Counter(s), url)
        request = {"op": "subscribe", "id": 1, "instrument": symbol, "channels": [channel]}
        transport.send(WSMsgType.TEXT, orjson.dumps(request))
        listeners.append(listener)
        transports.append(transport)
    await asyncio.wait_for(asyncio.gather(*(c.subscribed.wait() for c in listeners)), 60)
    print(orjson.dumps({"ready": n}).decode(), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await asyncio.sleep(0.5)  # the last frames in flight
    print(orjson.dumps({"events": [c.events for c in listeners]}).decode(), flush=True)
    for transport in transports:
        transport.disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
