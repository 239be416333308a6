"""The system under test, wired in one process: mock venue → fault proxy (Toxiproxy API) → reference feed.

``async with Stack(scenario, seed, tmp_dir) as stack:`` starts the venue (replay paused), picks the
Toxiproxy server (``TOXIPROXY_URL``, ``toxiproxy-server`` on PATH, else the embedded one), creates one proxy
for the venue's WebSocket port and one for its REST port through toxiproxy-python, points the feed at the
proxies and waits until every stream is subscribed. Leaving the block closes the feed, deletes the proxies
and stops everything, whatever happened inside.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import toxiproxy

from feed.binance_spot.feed import BinanceSpotFeed
from feed.config import FeedSettings
from feed.events import FeedEvent
from harness.proxy.select import ToxiproxyEndpoint, toxiproxy_endpoint
from harness.scenario import Scenario
from mock_venues.binance_spot.server import BinanceSpotVenue, VenueConfig
from mock_venues.recordings import bundled

SUBSCRIBE_TIMEOUT_S = 15.0


def _hostport(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


class Stack:
    """Venue, proxies and feed for one scenario run (async context manager)."""

    def __init__(self, scenario: Scenario, seed: int, workdir: Path) -> None:
        self.scenario = scenario
        self.seed = seed
        self.workdir = workdir
        self.events: list[FeedEvent] = []
        self.venue: BinanceSpotVenue = None  # type: ignore[assignment]
        self.feed: BinanceSpotFeed = None  # type: ignore[assignment]
        self.endpoint: ToxiproxyEndpoint | None = None
        self._proxies: dict[str, Any] = {}
        self._names: dict[str, str] = {}
        self._exit = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Stack:
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
        self.endpoint = await self._exit.enter_async_context(toxiproxy_endpoint(seed=self.seed))
        api = urlsplit(self.endpoint.url)
        client = toxiproxy.Toxiproxy()
        client.update_api_consumer(api.hostname, api.port)
        tag = f"ts{self.seed}x{id(self) % 100000}"
        for role, url in (("ws", self.venue.ws_url), ("rest", self.venue.rest_url)):
            host, port = _hostport(url)
            name = f"{tag}_{role}"
            proxy = await asyncio.to_thread(
                client.create, upstream=f"{host}:{port}", name=name, listen="127.0.0.1:0"
            )
            self._proxies[role], self._names[role] = proxy, name
        self._exit.push_async_callback(self._delete_proxies, client)
        ws_listen, rest_listen = self._proxies["ws"].listen, self._proxies["rest"].listen
        settings = FeedSettings(
            symbols=[*sc.symbols],
            streams=[*sc.streams],
            ws_url=f"ws://{ws_listen}",
            rest_url=f"http://{rest_listen}",
            dlq_path=self.workdir / "dlq.sqlite",
            **{"backoff_base_s": 0.1, "backoff_cap_s": 2.0, **sc.feed},
        )
        self.feed = BinanceSpotFeed(settings, seed=self.seed)
        self.feed.on_event(self.events.append)
        await self._exit.enter_async_context(self.feed)
        await self._wait_subscribed(len(settings.stream_names()))

    async def _delete_proxies(self, client: Any) -> None:
        for name in self._names.values():
            with contextlib.suppress(Exception):
                proxy = await asyncio.to_thread(client.get_proxy, name)
                if proxy is not None:
                    await asyncio.to_thread(proxy.destroy)

    async def _wait_subscribed(self, count: int) -> None:
        deadline = time.monotonic() + SUBSCRIBE_TIMEOUT_S
        while sum(len(s.subscriptions) for s in self.venue.sessions.values()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the feed did not subscribe its {count} streams within {SUBSCRIBE_TIMEOUT_S} s"
                )
            await asyncio.sleep(0.02)

    # -- faults ----------------------------------------------------------------------------------------

    async def add_toxic(
        self, proxy: str, kind: str, stream: str, toxicity: float, attributes: dict[str, Any]
    ) -> None:
        """Add a toxic through the Toxiproxy API."""
        target = self._proxies[proxy]
        await asyncio.to_thread(
            target.add_toxic, type=kind, stream=stream, toxicity=toxicity, attributes=attributes
        )

    async def clear_toxics(self, proxy: str) -> None:
        """Remove every toxic of a proxy."""
        target = self._proxies[proxy]
        toxics = await asyncio.to_thread(target.toxics)
        for name in list(toxics):
            await asyncio.to_thread(target.destroy_toxic, name)

    async def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Enable or disable a proxy (disabled: listener closed, connections dropped)."""
        target = self._proxies[proxy]
        await asyncio.to_thread(target.enable if enabled else target.disable)

    async def heal_everything(self) -> None:
        """End every fault: toxics removed, proxies enabled, venue message faults cleared."""
        for role in self._proxies:
            await self.clear_toxics(role)
            await self.set_enabled(role, True)
        self.venue.clear_faults()
