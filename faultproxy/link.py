"""TCP forwarding for one proxy: connections, their two one-way links, and the socket protocols.

Every accepted client becomes a :class:`Connection`: the upstream is dialled, then two :class:`Link` s
start, ``upstream`` (client → server) and ``downstream`` (server → client). A link without toxics writes
each read straight to the other socket (the fast path: plain asyncio Protocols, no queues, no tasks);
with toxics it feeds a chain of stubs (see :mod:`faultproxy.toxics`) whose end writes to the socket.

As in toxiproxy-server, when a link's stream ends (its source closed, or a toxic closed it) the socket it
writes to is closed completely, which ends the other link too. A reset_peer toxic present when the
connection is accepted makes every close on that connection an RST (SO_LINGER 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from typing import TYPE_CHECKING, cast

from faultproxy.addr import AddrError, dial_target
from faultproxy.model import DOWNSTREAM, TOXIC_TYPES, UPSTREAM, Toxic
from faultproxy.toxics import Channel, Chunk, Output, Stub

if TYPE_CHECKING:
    from faultproxy.proxy import Proxy

READ_CHUNK = 32 * 1024  # Go's io.Copy buffer: toxics see reads of at most this size
LINGER_RST = struct.pack("ii", 1, 0)


class Sink:
    """The end of a link's chain: writes chunks to the destination socket."""

    __slots__ = ("link",)

    def __init__(self, link: Link) -> None:
        self.link = link

    def put(self, chunk: Chunk | None) -> None:
        """Write a chunk, or end the link's output on None."""
        if chunk is None:
            self.link.output_ended()
        elif chunk.data:
            self.link.write(chunk.data)


class Side(asyncio.Protocol):
    """One socket of a connection. ``reader`` is the link that reads it, ``writer`` the one writing to it."""

    def __init__(self, conn: Connection | None = None, proxy: Proxy | None = None) -> None:
        self.conn = conn
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.reader: Link | None = None
        self.writer: Link | None = None
        self.lost = False
        self.early: list[bytes] = []  # read before the links exist (uvloop may start reading regardless)
        self.early_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        transport = self.transport
        if self.conn is None and self.proxy is not None:  # an accepted client
            transport.pause_reading()
            self.proxy.accepted(self)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        if reader is not None:
            fast = reader.fast
            if fast is not None:  # no toxics: straight to the other socket
                size = len(data)
                reader.received += size
                reader.sent += size
                fast.write(data)
            else:
                reader.feed(data)
        else:
            self.early.append(data)
            if self.transport is not None:
                self.transport.pause_reading()

    def eof_received(self) -> bool:
        if self.reader is not None:
            self.reader.feed_eof()
        else:
            self.early_eof = True
        return True  # keep the socket: the other link closes it, as the real server does

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.reader is not None:
            self.reader.feed_eof()
        if self.writer is not None:
            self.writer.dest_lost(exc)
        if self.conn is not None:
            self.conn.side_lost()

    def pause_writing(self) -> None:
        if self.writer is not None:
            self.writer.dest_full(True)

    def resume_writing(self) -> None:
        if self.writer is not None:
            self.writer.dest_full(False)

    def set_linger_rst(self) -> None:
        """SO_LINGER 0: closing this socket sends an RST."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)

    def close(self) -> None:
        """Close the socket (after the already written bytes)."""
        if self.writer is not None:
            self.writer.fast = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class Link:
    """One direction of one connection: reads ``source``, runs the toxic chain, writes ``dest``."""

    def __init__(self, conn: Connection, direction: str, source: Side, dest: Side) -> None:
        self.conn = conn
        self.loop = conn.loop
        self.rng: random.Random = conn.proxy.rng
        self.direction = direction
        self.source = source
        self.dest = dest
        self.sink = Sink(self)
        self.stubs: list[Stub] = []
        self.entry: Output = self.sink
        self.direct = True
        self.fast: asyncio.Transport | None = None  # the dest transport while direct and open
        self.backlog = 0
        self.limit = 1
        self.received = 0
        self.sent = 0
        self.source_done = False
        self.output_done = False
        self.write_failed = False
        self._dest_full = False
        self._reading_paused = False
        proxy = conn.proxy
        self.labels = (direction, proxy.listen, proxy.name, proxy.upstream)
        source.reader = self
        dest.writer = self
        self._refresh_fast()

    # ------------------------------------------------------------------ data path
    def feed(self, data: bytes) -> None:
        """Bytes read from the source socket."""
        self.received += len(data)
        if self.direct:
            self.write(data)
            return
        now = self.loop.time()
        entry = self.entry
        if len(data) <= READ_CHUNK:
            entry.put(Chunk(data, now))
        else:
            view = memoryview(data)
            for i in range(0, len(data), READ_CHUNK):
                entry.put(Chunk(bytes(view[i : i + READ_CHUNK]), now))
        if self.backlog > self.limit:
            self._update_reading()

    def feed_eof(self) -> None:
        """The source socket ended (EOF, error or closed)."""
        if self.source_done:
            return
        self.source_done = True
        self.conn.proxy.metrics.add_received(self.labels, self.received)
        self.entry.put(None)

    def write(self, data: bytes) -> None:
        """Write to the destination socket (dropped once it is gone)."""
        transport = self.dest.transport
        if transport is None or self.dest.lost or transport.is_closing():
            self.write_failed = True
            return
        transport.write(data)
        self.sent += len(data)

    def output_ended(self) -> None:
        """The chain passed the end on: close the destination socket (and so stop reading it)."""
        if self.output_done:
            return
        self.output_done = True
        self.fast = None
        self.conn.proxy.toxics.links.discard(self)
        if not self.write_failed:
            self.conn.proxy.metrics.add_sent(self.labels, self.sent)
        self.dest.close()
        if self.dest.reader is not None:
            self.dest.reader.feed_eof()

    def dest_lost(self, exc: Exception | None) -> None:
        """The destination socket is gone."""
        self.fast = None
        if exc is not None:
            self.write_failed = True

    def _refresh_fast(self) -> None:
        transport = self.dest.transport
        usable = transport is not None and not transport.is_closing() and not self.dest.lost
        self.fast = transport if self.direct and usable and not self.output_done else None

    def dest_full(self, full: bool) -> None:
        """Flow control from the destination transport's write buffer."""
        self._dest_full = full
        self._update_reading()

    def dequeued(self) -> None:
        """A stub took a chunk off a channel."""
        self.backlog -= 1
        if self._reading_paused and self.backlog <= self.limit:
            self._update_reading()

    def _update_reading(self) -> None:
        pause = self._dest_full or self.backlog > self.limit
        transport = self.source.transport
        if pause == self._reading_paused or transport is None or transport.is_closing() or self.source_done:
            return
        self._reading_paused = pause
        if pause:
            transport.pause_reading()
        else:
            transport.resume_reading()

    # ------------------------------------------------------------------ chain changes
    def start(self, chain: list[Toxic]) -> None:
        """Build the stubs for the proxy's current chain and run them."""
        for toxic in chain:
            self._append(toxic)
        for stub in self.stubs:
            stub.run()

    def _append(self, toxic: Toxic) -> Stub:
        stub = Stub(self, toxic, self.sink)
        if self.stubs:
            self.stubs[-1].output = stub.input
        else:
            self.entry = stub.input
            self.direct = False
            self.fast = None
        self.stubs.append(stub)
        self._recompute_limit()
        return stub

    def _recompute_limit(self) -> None:
        self.limit = 1 + sum(TOXIC_TYPES[s.toxic.type].buffer_size + 1 for s in self.stubs)

    def _find(self, toxic: Toxic) -> int:
        for i, stub in enumerate(self.stubs):
            if stub.toxic is toxic:
                return i
        return -1

    def add_toxic(self, toxic: Toxic) -> None:
        """Splice a new toxic in at the end of the chain (restarting the previous one)."""
        if self.output_done:
            return
        last = self.stubs[-1] if self.stubs else None
        if last is not None and not last.interrupt():
            stub = Stub(self, toxic, Channel(self))  # the link is ending: keep the chain consistent only
            stub.closed = True
            self.stubs.append(stub)
            return
        stub = self._append(toxic)
        stub.run()
        if last is not None:
            last.run()

    def update_toxic(self, toxic: Toxic) -> None:
        """Restart a toxic with its new settings (toxicity is drawn again)."""
        i = self._find(toxic)
        if i >= 0 and self.stubs[i].interrupt():
            self.stubs[i].run()

    def remove_toxic(self, toxic: Toxic) -> None:
        """Splice a toxic out; removing a timeout toxic closes the connection."""
        i = self._find(toxic)
        if i < 0:
            return
        stub = self.stubs[i]
        if not stub.interrupt():
            del self.stubs[i]
            self._recompute_limit()
            return
        if toxic.type == "timeout":
            stub.close()
            return
        prev = self.stubs[i - 1] if i > 0 else None
        prev_running = prev.interrupt() if prev is not None else False
        for chunk in stub.input.take_all():
            stub.output.put(chunk)
        if stub.input.closed:
            stub.close()
        if prev is not None:
            prev.output = stub.output
        else:
            self.entry = stub.output
            self.direct = stub.output is self.sink
            self._refresh_fast()
        del self.stubs[i]
        self._recompute_limit()
        if prev is not None and prev_running:
            prev.run()
        if self._reading_paused:
            self._update_reading()

    def cancel_all(self) -> None:
        """Stop every toxic coroutine of this link (the connection is gone)."""
        for stub in self.stubs:
            stub.cancel()
            stub.closed = True


class Connection:
    """One accepted client and its upstream socket."""

    def __init__(self, proxy: Proxy, client: Side) -> None:
        self.proxy = proxy
        self.loop = proxy.loop
        self.client = client
        self.upstream: Side | None = None
        self.links: list[Link] = []
        self.closed = False
        self.task: asyncio.Task[None] | None = None
        client.conn = self

    async def open(self) -> None:
        """Dial the upstream and start both links; on failure close the client (as the real server)."""
        try:
            host, port = dial_target(self.proxy.upstream)
            _, side = await self.loop.create_connection(lambda: Side(self), host, port)
        except (OSError, AddrError, UnicodeError, ValueError):
            self.client.close()
            self.finish()
            return
        finally:
            self.task = None
        if self.closed:
            if side.transport is not None:
                side.transport.close()
            return
        self.upstream = side
        self.start_links()

    def start_links(self) -> None:
        """Create the two links with the proxy's current toxic chains."""
        assert self.upstream is not None
        toxics = self.proxy.toxics
        if any(t.type == "reset_peer" for chain in toxics.chains.values() for t in chain):
            self.client.set_linger_rst()
            self.upstream.set_linger_rst()
        up = Link(self, UPSTREAM, self.client, self.upstream)
        down = Link(self, DOWNSTREAM, self.upstream, self.client)
        self.links = [up, down]
        toxics.links.update(self.links)
        up.start(list(toxics.chains[UPSTREAM]))
        down.start(list(toxics.chains[DOWNSTREAM]))
        for side, link in ((self.client, up), (self.upstream, down)):
            early, side.early = side.early, []
            for data in early:
                link.feed(data)
            if side.lost or side.early_eof:
                link.feed_eof()
            elif side.transport is not None:
                side.transport.resume_reading()

    def side_lost(self) -> None:
        """A socket finished closing; once both did, the connection is over."""
        if self.client.lost and (self.upstream is None or self.upstream.lost) and self.task is None:
            self.finish()

    def close(self) -> None:
        """Drop the connection now (proxy disabled, moved or deleted)."""
        if self.task is not None:
            self.task.cancel()
        self.client.close()
        if self.upstream is not None:
            self.upstream.close()
        self.finish()

    def finish(self) -> None:
        """Forget the connection and stop its toxics."""
        if self.closed:
            return
        self.closed = True
        for link in self.links:
            link.cancel_all()
            self.proxy.toxics.links.discard(link)
        self.proxy.connections.discard(self)
