"""The physical WebSocket under a stream connection, behind one small interface, with two clients.

``open_wire(client, url, on_frame)`` connects and returns a :class:`Wire`: text and binary frames are handed
to ``on_frame(payload, recv_ns)`` as they arrive; ``closed`` is a future that completes when the socket is
gone. Two implementations, chosen by the ``ws_client`` setting and by measurement (benchmarks/bench_feed):

- ``picows`` (default): a Cython WebSocket client whose frame callbacks cost about a tenth of a
  websockets ``recv()``; the feed's throughput ceiling is set by it;
- ``websockets``: the pure-Python library the rest of tickstorm uses (servers, tests).

Both answer the venue's pings (Binance pings every 20 s) and let the connection layer send its own pings
to detect a dead peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

OnFrame = Callable[[bytes, int], None]


class WireError(ConnectionError):
    """The connection could not be opened (``status`` and ``retry_after`` when the venue refused it)."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class Wire:
    """One open WebSocket."""

    def __init__(self) -> None:
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self.close_reason = ""

    def send_text(self, text: str) -> None:
        """Queue a text frame."""
        raise NotImplementedError

    def send_binary(self, data: bytes) -> None:
        """Queue a binary frame."""
        raise NotImplementedError

    def send(self, frame: str | bytes) -> None:
        """Queue a text (``str``) or binary (``bytes``) frame."""
        if isinstance(frame, bytes):
            self.send_binary(frame)
        else:
            self.send_text(frame)

    async def ping(self) -> None:
        """Send a ping and wait for its pong (callers bound the wait)."""
        raise NotImplementedError

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close handshake, then wait until the socket is gone."""
        raise NotImplementedError

    def abort(self) -> None:
        """Drop the TCP connection without a close handshake (dead peer)."""
        raise NotImplementedError


async def open_wire(
    client: str,
    url: str,
    on_frame: OnFrame,
    *,
    open_timeout: float = 10.0,
    headers: tuple[tuple[str, str], ...] = (),
) -> Wire:
    """Connect with the chosen client (``picows`` or ``websockets``); ``headers`` go on the upgrade
    request. Text and binary frames alike are handed to ``on_frame``."""
    if client == "picows":
        return await _PicowsWire.connect(url, on_frame, open_timeout, headers)
    if client == "websockets":
        return await _WebsocketsWire.connect(url, on_frame, open_timeout, headers)
    raise ValueError(f"unknown WebSocket client {client!r} (picows or websockets)")


def _retry_after(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# -- picows ----------------------------------------------------------------------------------------------


class _PicowsWire(Wire):
    def __init__(self) -> None:
        super().__init__()
        self._pongs: list[asyncio.Future[None]] = []
        self._transport: Any = None

    @classmethod
    async def connect(
        cls, url: str, on_frame: OnFrame, open_timeout: float, headers: tuple[tuple[str, str], ...] = ()
    ) -> _PicowsWire:
        from picows import WSError, WSInvalidStatusError, ws_connect

        wire = cls()
        try:
            transport, _ = await asyncio.wait_for(
                ws_connect(
                    lambda: _PicowsListener(wire, on_frame),
                    url,
                    websocket_handshake_timeout=open_timeout,
                    enable_auto_pong=True,
                    max_frame_size=2**24,
                    extra_headers=list(headers) or None,
                ),
                open_timeout,
            )
        except WSInvalidStatusError as exc:
            status = int(exc.response.status) if exc.response is not None else None
            retry = (
                _retry_after(exc.response.headers.get("Retry-After")) if exc.response is not None else None
            )
            raise WireError(f"handshake refused: HTTP {status}", status, retry) from exc
        except (OSError, TimeoutError, WSError) as exc:
            raise WireError(f"{type(exc).__name__}: {exc}") from exc
        if transport.is_disconnected or transport.underlying_transport.is_closing():
            # picows can hand back a transport whose TCP connection was reset during the upgrade.
            raise WireError("connection closed during the WebSocket handshake")
        wire._transport = transport
        return wire

    def send_text(self, text: str) -> None:
        from picows import WSMsgType

        if not self._transport.is_disconnected:
            self._transport.send(WSMsgType.TEXT, text.encode())

    def send_binary(self, data: bytes) -> None:
        from picows import WSMsgType

        if not self._transport.is_disconnected:
            self._transport.send(WSMsgType.BINARY, data)

    async def ping(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs.append(waiter)
        self._transport.send_ping()
        await waiter

    async def close(self, code: int = 1000, reason: str = "") -> None:
        from picows import WSCloseCode

        if not self._transport.is_disconnected:
            if self.close_code is None:
                self.close_code, self.close_reason = code, reason
            self._transport.send_close(WSCloseCode(code), reason.encode())
            self._transport.disconnect()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), 2.0)

    def abort(self) -> None:
        self._transport.disconnect(graceful=False)


def _make_picows_listener() -> type:
    from picows import WSListener, WSMsgType

    class Listener(WSListener):
        def __init__(self, wire: _PicowsWire, on_frame: OnFrame) -> None:
            super().__init__()
            self.wire = wire
            self.on_frame = on_frame

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            kind = frame.msg_type
            if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                self.on_frame(frame.get_payload_as_bytes(), time.monotonic_ns())
            elif kind is WSMsgType.PONG:
                pongs = self.wire._pongs
                while pongs:
                    waiter = pongs.pop(0)
                    if not waiter.done():
                        waiter.set_result(None)
            elif kind is WSMsgType.CLOSE:
                self.wire.close_code = int(frame.get_close_code())
                message = frame.get_close_message()
                self.wire.close_reason = message.decode("utf-8", "replace") if message else ""
                transport.send_close(frame.get_close_code())
                transport.disconnect()

        def on_ws_disconnected(self, transport: Any) -> None:
            if self.wire.close_code is None:
                self.wire.close_code = 1006  # gone without a close frame
            if not self.wire.closed.done():
                self.wire.closed.set_result(None)
            for waiter in self.wire._pongs:
                if not waiter.done():
                    waiter.set_exception(ConnectionError("connection closed"))
            self.wire._pongs.clear()

    return Listener


_PicowsListener: Any = None
try:
    _PicowsListener = _make_picows_listener()
except ImportError:  # pragma: no cover - picows is a dependency; the websockets client still works
    _PicowsListener = None


# -- websockets ------------------------------------------------------------------------------------------


class _WebsocketsWire(Wire):
    def __init__(self, ws: ClientConnection) -> None:
        super().__init__()
        self._ws = ws
        self._sending: set[asyncio.Future[None]] = set()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, url: str, on_frame: OnFrame, open_timeout: float, headers: tuple[tuple[str, str], ...] = ()
    ) -> _WebsocketsWire:
        try:
            ws = await connect(
                url,
                open_timeout=open_timeout,
                ping_interval=None,  # the connection layer pings when idle
                max_size=2**24,
                max_queue=4096,
                compression=None,
                close_timeout=2.0,
                additional_headers=list(headers) or None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise WireError(
                f"handshake refused: HTTP {status}",
                status,
                _retry_after(exc.response.headers.get("Retry-After")),
            ) from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise WireError(f"{type(exc).__name__}: {exc}") from exc
        wire = cls(ws)
        wire._reader = asyncio.create_task(wire._read(on_frame))
        return wire

    async def _read(self, on_frame: OnFrame) -> None:
        ws: ClientConnection = self._ws
        mono = time.monotonic_ns
        try:
            while True:
                frame = await ws.recv(decode=False)
                on_frame(frame if isinstance(frame, bytes) else frame.encode(), mono())
        except ConnectionClosed:
            pass
        finally:
            self.close_code = ws.close_code if ws.close_code is not None else 1006
            self.close_reason = ws.close_reason or ""
            if not self.closed.done():
                self.closed.set_result(None)

    def send_text(self, text: str) -> None:
        task = asyncio.ensure_future(self._send(text))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def send_binary(self, data: bytes) -> None:
        task = asyncio.ensure_future(self._send(data))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, frame: str | bytes) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(frame)

    async def ping(self) -> None:
        pong = await self._ws.ping()
        await pong

    async def close(self, code: int = 1000, reason: str = "") -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._ws.close(code, reason), 2.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), 2.0)

    def abort(self) -> None:
        self._ws.transport.abort()
