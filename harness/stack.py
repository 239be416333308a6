"""The system under test, wired in one process: mock venue → fault proxy (Toxiproxy API) → reference feed.

``async with Stack(scenario, seed, tmp_dir) as stack:`` starts the venue (replay paused), picks the
Toxiproxy server (``TOXIPROXY_URL``, ``toxiproxy-server`` on PATH, else the embedded one), creates one proxy
for the venue's WebSocket port and one for its REST port through toxiproxy-python, points the feed at the
proxies and waits until every stream is subscribed. Leaving the block closes the feed, deletes the proxies
and stops everything, whatever happened inside. :mod:`harness.process_stack` is the same stack with each
component in its own process; both expose the calls scenario steps make and produce a :class:`RunData`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import toxiproxy

from feed.binance_spot.feed import BinanceSpotFeed
from feed.config import FeedSettings
from feed.dlq import DeadLetterQueue
from feed.events import FeedEvent
from harness.rundata import RunData
from harness.scenario import Scenario
from harness.toxiproxy_endpoint import ToxiproxyEndpoint, toxiproxy_endpoint
from mock_venues.binance_spot.server import BinanceSpotVenue, VenueConfig
from mock_venues.recordings import bundled

SUBSCRIBE_TIMEOUT_S = 15.0
SETTLE_QUIET_S = 0.5
SETTLE_MAX_S = 20.0
FEED_TEST_DEFAULTS = {"backoff_base_s": 0.1, "backoff_cap_s": 2.0}
"""Faster reconnects than production defaults, so seconds-long scenarios see several attempts."""


def hostport(url: str) -> tuple[str, int]:
    """``host, port`` of a URL."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


class NeedsProcesses(RuntimeError):
    """A process fault was asked of the in-process stack."""


class FaultProxies:
    """The run's two Toxiproxy proxies (``ws`` and ``rest``), driven through toxiproxy-python."""

    def __init__(self, api_url: str, tag: str) -> None:
        api = urlsplit(api_url)
        self.client = toxiproxy.Toxiproxy()
        self.client.update_api_consumer(api.hostname, api.port)
        self.tag = tag
        self.proxies: dict[str, Any] = {}

    async def create(self, upstreams: dict[str, str]) -> dict[str, str]:
        """One proxy per role in front of ``upstreams`` (role → URL); returns role → listen address."""
        for role, url in upstreams.items():
            host, port = hostport(url)
            self.proxies[role] = await asyncio.to_thread(
                self.client.create, upstream=f"{host}:{port}", name=f"{self.tag}_{role}", listen="127.0.0.1:0"
            )
        return {role: proxy.listen for role, proxy in self.proxies.items()}

    async def delete(self) -> None:
        """Delete the proxies (their connections close)."""
        for role in list(self.proxies):
            with contextlib.suppress(Exception):
                proxy = await asyncio.to_thread(self.client.get_proxy, f"{self.tag}_{role}")
                if proxy is not None:
                    await asyncio.to_thread(proxy.destroy)
        self.proxies.clear()

    async def add_toxic(
        self, proxy: str, kind: str, stream: str, toxicity: float, attributes: dict[str, Any]
    ) -> None:
        """Add a toxic through the Toxiproxy API."""
        target = self.proxies[proxy]
        await asyncio.to_thread(
            target.add_toxic, type=kind, stream=stream, toxicity=toxicity, attributes=attributes
        )

    async def clear_toxics(self, proxy: str) -> None:
        """Remove every toxic of a proxy."""
        target = self.proxies[proxy]
        toxics = await asyncio.to_thread(target.toxics)
        for name in list(toxics):
            await asyncio.to_thread(target.destroy_toxic, name)

    async def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Enable or disable a proxy (disabled: listener closed, connections dropped)."""
        target = self.proxies[proxy]
        await asyncio.to_thread(target.enable if enabled else target.disable)

    async def heal(self) -> None:
        """Every toxic removed, every proxy enabled."""
        for role in self.proxies:
            await self.clear_toxics(role)
            await self.set_enabled(role, True)


class StackBase:
    """What both stacks share: the fault proxies and the calls timeline steps make."""

    mode = "?"

    def __init__(self, scenario: Scenario, seed: int, workdir: Path) -> None:
        self.scenario = scenario
        self.seed = seed
        self.workdir = workdir
        self.venue: Any = None
        self.endpoint: ToxiproxyEndpoint | None = None
        self.proxies: FaultProxies = None  # type: ignore[assignment]
        self._exit = contextlib.AsyncExitStack()

    async def __aenter__(self) -> StackBase:
        try:
            await self._start()
        except BaseException:
            await self._exit.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._exit.aclose()

    async def _start(self) -> None:
        raise NotImplementedError

    async def _proxy_in_front_of(self, ws_url: str, rest_url: str, **endpoint: Any) -> dict[str, str]:
        self.endpoint = await self._exit.enter_async_context(toxiproxy_endpoint(seed=self.seed, **endpoint))
        self.proxies = FaultProxies(self.endpoint.url, f"ts{self.seed}x{id(self) % 100000}")
        self._exit.push_async_callback(self.proxies.delete)
        return await self.proxies.create({"ws": ws_url, "rest": rest_url})

    def feed_settings(self, listen: dict[str, str], **paths: Any) -> dict[str, Any]:
        """The feed's settings for this scenario, pointed at the proxies."""
        sc = self.scenario
        return {
            "symbols": [*sc.symbols],
            "streams": [*sc.streams],
            "ws_url": f"ws://{listen['ws']}",
            "rest_url": f"http://{listen['rest']}",
            **paths,
            **FEED_TEST_DEFAULTS,
            **sc.feed,
        }

    # -- faults (timeline steps call these) -----------------------------------------------------------

    async def add_toxic(
        self, proxy: str, kind: str, stream: str, toxicity: float, attributes: dict[str, Any]
    ) -> None:
        """Add a toxic to the ``ws`` or ``rest`` proxy."""
        await self.proxies.add_toxic(proxy, kind, stream, toxicity, attributes)

    async def clear_toxics(self, proxy: str) -> None:
        """Remove every toxic of a proxy."""
        await self.proxies.clear_toxics(proxy)

    async def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Enable or disable a proxy."""
        await self.proxies.set_enabled(proxy, enabled)

    async def pause_feed(self) -> None:
        """SIGSTOP the feed process."""
        raise NeedsProcesses("pausing the feed needs the multi-process stack")

    async def continue_feed(self) -> None:
        """SIGCONT the feed process."""
        raise NeedsProcesses("pausing the feed needs the multi-process stack")

    async def pause_venue(self) -> None:
        """SIGSTOP the venue process."""
        raise NeedsProcesses("pausing the venue needs the multi-process stack")

    async def continue_venue(self) -> None:
        """SIGCONT the venue process."""
        raise NeedsProcesses("pausing the venue needs the multi-process stack")

    async def kill_feed(self) -> None:
        """SIGKILL the feed process."""
        raise NeedsProcesses("killing the feed needs the multi-process stack")

    async def restart_feed(self) -> None:
        """Start the killed feed process again (resuming from its journal)."""
        raise NeedsProcesses("restarting the feed needs the multi-process stack")

    # -- a run ------------------------------------------------------------------------------------------

    async def start_replay(self) -> None:
        """Start the venue's replay."""
        raise NotImplementedError

    async def heal_everything(self) -> None:
        """End every fault: toxics removed, proxies enabled, venue faults cleared, feed running."""
        raise NotImplementedError

    async def settle(self) -> None:
        """Stop the venue's sender, then wait until the feed is quiet and its books are in sync."""
        raise NotImplementedError

    async def gather(self, t0_ns: int) -> RunData:
        """Collect histories and end state (the feed may be stopped by this)."""
        raise NotImplementedError


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str, poll_s: float = 0.02
) -> None:
    """Poll ``condition`` until it holds; TimeoutError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout_s} s")
        await asyncio.sleep(poll_s)


class Stack(StackBase):
    """Venue, proxies and feed for one scenario run, all in this process (async context manager)."""

    mode = "in-process"

    def __init__(self, scenario: Scenario, seed: int, workdir: Path) -> None:
        super().__init__(scenario, seed, workdir)
        self.events: list[FeedEvent] = []
        self.venue: BinanceSpotVenue = None  # type: ignore[assignment]
        self.feed: BinanceSpotFeed = None  # type: ignore[assignment]

    async def _start(self) -> None:
        sc = self.scenario
        config = VenueConfig(
            recordings=bundled(sc.recording),
            speed=sc.speed,
            fanout=sc.fanout,
            autostart=False,
            seed=self.seed,
            **sc.venue,
        )
        self.venue = await self._exit.enter_async_context(BinanceSpotVenue(config))
        listen = await self._proxy_in_front_of(self.venue.ws_url, self.venue.rest_url)
        settings = FeedSettings(**self.feed_settings(listen, dlq_path=self.workdir / "dlq.sqlite"))
        self.feed = BinanceSpotFeed(settings, seed=self.seed)
        self.feed.on_event(self.events.append)
        await self._exit.enter_async_context(self.feed)
        count = len(settings.stream_names())

        async def subscribed() -> bool:
            return sum(len(s.subscriptions) for s in self.venue.sessions.values()) >= count

        await wait_until(subscribed, SUBSCRIBE_TIMEOUT_S, f"the feed did not subscribe its {count} streams")

    async def start_replay(self) -> None:
        """Start the venue's replay."""
        self.venue.start_replay()

    async def heal_everything(self) -> None:
        """End every fault: toxics removed, proxies enabled, venue message faults cleared."""
        await self.proxies.heal()
        self.venue.clear_faults()

    async def settle(self) -> None:
        """Stop the venue's sender, then wait until the feed is quiet and every book is in sync again."""
        self.venue.stall(SETTLE_MAX_S + 5)
        deadline = time.monotonic() + SETTLE_MAX_S
        last = -1
        core = self.feed.core
        while time.monotonic() < deadline:
            books_ok = all(b.sync.synced for b in core.books.values())
            backfilling = any(s.sequencer is not None and s.sequencer.waiting for s in core.streams.values())
            if len(self.events) == last and books_ok and not backfilling:
                return
            last = len(self.events)
            await asyncio.sleep(SETTLE_QUIET_S)

    async def gather(self, t0_ns: int) -> RunData:
        """The run's histories and end state, read from the live objects."""
        venue, feed = self.venue, self.feed
        books = {}
        for symbol in feed.core.books:
            book = feed.book(symbol)
            body = None
            if book is not None:
                bids, asks = book.top()
                body = {"lastUpdateId": book.last_update_id, "bids": bids, "asks": asks}
            books[symbol] = (venue.true_book(symbol, limit=1_000_000), body, feed.book_band(symbol))
        assert feed.dlq is not None
        feed.dlq.flush()
        with DeadLetterQueue(self.workdir / "dlq.sqlite") as dlq:
            entries = list(dlq.entries())
        letters = [(e.stream, e.raw) for e in entries]
        wall_minus_mono = time.time_ns() - time.monotonic_ns()
        letter_times = [(e.received_unix_ns - wall_minus_mono, e.stream, e.reason) for e in entries]
        streams = feed.settings.stream_names()
        return RunData(
            t0_ns=t0_ns,
            streams=streams,
            replay_of={name: venue.replay_stream_for(name) for name in streams},
            timeline=venue.timeline,
            venue_history=venue.history,
            events=self.events,
            books=books,
            stats=feed.stats(),
            dead_letters=letters,
            dead_letter_times=letter_times,
        )
