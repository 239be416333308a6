"""The system under test, wired in one process: mock venues → fault proxy (Toxiproxy API) → reference feed.

``async with Stack(scenario, seed, tmp_dir) as stack:`` starts every venue of the scenario (replay paused;
any registered venue, by name), picks the Toxiproxy server (``TOXIPROXY_URL``, ``toxiproxy-server`` on
PATH, else the embedded one), creates through toxiproxy-python one proxy per venue for its WebSocket port
and one for its REST port (when it has one), points the feed's venues at the proxies and waits until every
stream is subscribed. Leaving the block closes the feed, deletes the proxies and stops everything,
whatever happened inside. :mod:`harness.process_stack` is the same stack with each component in its own
process; both expose the calls scenario steps make and produce a :class:`RunData`.
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

from feed.config import FeedSettings
from feed.dlq import DeadLetterQueue
from feed.events import FeedEvent
from feed.feed import Feed
from harness.rundata import RunData, VenueRun
from harness.scenario import Scenario, VenueSpec
from harness.toxiproxy_endpoint import ToxiproxyEndpoint, toxiproxy_endpoint
from mock_venues import registry as venue_registry
from mock_venues.base.venue import VenueBase, VenueConfig
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
    """One venue's Toxiproxy proxies (``ws``, and ``rest`` when it has REST), via toxiproxy-python."""

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

    def _proxy(self, role: str) -> Any:
        proxy = self.proxies.get(role)
        if proxy is None:
            raise ValueError(f"this venue has no {role} proxy (it has: {', '.join(sorted(self.proxies))})")
        return proxy

    async def add_toxic(
        self, proxy: str, kind: str, stream: str, toxicity: float, attributes: dict[str, Any]
    ) -> None:
        """Add a toxic through the Toxiproxy API."""
        target = self._proxy(proxy)
        await asyncio.to_thread(
            target.add_toxic, type=kind, stream=stream, toxicity=toxicity, attributes=attributes
        )

    async def clear_toxics(self, proxy: str) -> None:
        """Remove every toxic of a proxy."""
        target = self._proxy(proxy)
        toxics = await asyncio.to_thread(target.toxics)
        for name in list(toxics):
            await asyncio.to_thread(target.destroy_toxic, name)

    async def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Enable or disable a proxy (disabled: listener closed, connections dropped)."""
        target = self._proxy(proxy)
        await asyncio.to_thread(target.enable if enabled else target.disable)

    async def heal(self) -> None:
        """Every toxic removed, every proxy enabled."""
        for role in self.proxies:
            await self.clear_toxics(role)
            await self.set_enabled(role, True)


def venue_config(spec: VenueSpec, scenario: Scenario, seed: int) -> VenueConfig:
    """The mock venue's config for one venue of a scenario (replay paused)."""
    cls = venue_registry.venue_class(spec.venue)
    return VenueConfig(
        recordings=bundled(spec.recording or cls.default_recording),
        speed=scenario.speed,
        fanout=scenario.fanout,
        autostart=False,
        seed=seed,
        **spec.options,
    )


class StackBase:
    """What both stacks share: the fault proxies, the feed's settings and the calls timeline steps make."""

    mode = "?"

    def __init__(self, scenario: Scenario, seed: int, workdir: Path) -> None:
        self.scenario = scenario
        self.seed = seed
        self.workdir = workdir
        self.specs = scenario.venue_specs()
        self.venues: dict[str, Any] = {}  # instance -> the venue (in-process) or its control client
        self.endpoint: ToxiproxyEndpoint | None = None
        self.proxies: dict[str, FaultProxies] = {}
        self._exit = contextlib.AsyncExitStack()

    @property
    def venue(self) -> Any:
        """The first venue (the only one in single-venue scenarios)."""
        return self.venues[self.specs[0].instance]

    def venue_control(self, name: str | None) -> Any:
        """A venue by instance name (None: the first): the object control calls go to."""
        instance = name or self.specs[0].instance
        try:
            return self.venues[instance]
        except KeyError:
            raise ValueError(f"no venue {instance!r} in this run (known: {', '.join(self.venues)})") from None

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

    async def _proxy_in_front_of(
        self, upstreams: dict[str, dict[str, str]], **endpoint: Any
    ) -> dict[str, dict[str, str]]:
        """Per venue instance, a proxy per role (``ws``, ``rest``) in front of its URLs; returns the
        listen addresses."""
        self.endpoint = await self._exit.enter_async_context(toxiproxy_endpoint(seed=self.seed, **endpoint))
        listen: dict[str, dict[str, str]] = {}
        for instance, urls in upstreams.items():
            proxies = FaultProxies(self.endpoint.url, f"ts{self.seed}x{id(self) % 100000}_{instance}")
            self.proxies[instance] = proxies
            self._exit.push_async_callback(proxies.delete)
            listen[instance] = await proxies.create(urls)
        return listen

    def feed_settings(self, listen: dict[str, dict[str, str]], **paths: Any) -> dict[str, Any]:
        """The feed's settings for this scenario, every venue pointed at its proxies."""
        venues = []
        for spec in self.specs:
            addresses = listen[spec.instance]
            entry: dict[str, Any] = {
                "venue": spec.venue,
                "name": spec.instance,
                "symbols": spec.symbols,
                "streams": spec.streams,
                "ws_url": f"ws://{addresses['ws']}",
                **FEED_TEST_DEFAULTS,
                **spec.feed,
            }
            if "rest" in addresses:
                entry["rest_url"] = f"http://{addresses['rest']}"
            venues.append(entry)
        return {"venues": venues, **paths, **self.scenario.feed_options()}

    def _proxies(self, venue: str | None) -> FaultProxies:
        instance = venue or self.specs[0].instance
        try:
            return self.proxies[instance]
        except KeyError:
            raise ValueError(
                f"no venue {instance!r} in this run (known: {', '.join(self.proxies)})"
            ) from None

    # -- faults (timeline steps call these) -----------------------------------------------------------

    async def add_toxic(
        self,
        proxy: str,
        kind: str,
        stream: str,
        toxicity: float,
        attributes: dict[str, Any],
        *,
        venue: str | None = None,
    ) -> None:
        """Add a toxic to a venue's ``ws`` or ``rest`` proxy."""
        await self._proxies(venue).add_toxic(proxy, kind, stream, toxicity, attributes)

    async def clear_toxics(self, proxy: str, *, venue: str | None = None) -> None:
        """Remove every toxic of a venue's proxy."""
        await self._proxies(venue).clear_toxics(proxy)

    async def set_enabled(self, proxy: str, enabled: bool, *, venue: str | None = None) -> None:
        """Enable or disable a venue's proxy."""
        await self._proxies(venue).set_enabled(proxy, enabled)

    async def heal_proxies(self) -> None:
        """Every toxic of every venue removed, every proxy enabled."""
        for proxies in self.proxies.values():
            await proxies.heal()

    async def pause_feed(self) -> None:
        """SIGSTOP the feed process."""
        raise NeedsProcesses("pausing the feed needs the multi-process stack")

    async def continue_feed(self) -> None:
        """SIGCONT the feed process."""
        raise NeedsProcesses("pausing the feed needs the multi-process stack")

    async def pause_venue(self, venue: str | None = None) -> None:
        """SIGSTOP a venue process."""
        raise NeedsProcesses("pausing a venue needs the multi-process stack")

    async def continue_venue(self, venue: str | None = None) -> None:
        """SIGCONT a venue process."""
        raise NeedsProcesses("pausing a venue needs the multi-process stack")

    async def kill_feed(self) -> None:
        """SIGKILL the feed process."""
        raise NeedsProcesses("killing the feed needs the multi-process stack")

    async def restart_feed(self) -> None:
        """Start the killed feed process again (resuming from its journal)."""
        raise NeedsProcesses("restarting the feed needs the multi-process stack")

    # -- a run ------------------------------------------------------------------------------------------

    async def start_replay(self) -> None:
        """Start every venue's replay."""
        raise NotImplementedError

    async def heal_everything(self) -> None:
        """End every fault: toxics removed, proxies enabled, venue faults cleared, feed running."""
        raise NotImplementedError

    async def settle(self) -> None:
        """Stop the venues' senders, then wait until the feed is quiet and its books are in sync."""
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


def dead_letters_of(
    path: Path,
) -> tuple[list[tuple[str, str | None, bytes]], list[tuple[int, str | None, str]]]:
    """The DLQ's entries as (venue, stream, raw), and as (monotonic receive ns, stream, reason)."""
    with DeadLetterQueue(path) as dlq:
        entries = list(dlq.entries())
    wall_minus_mono = time.time_ns() - time.monotonic_ns()
    letters = [(e.venue, e.stream, e.raw) for e in entries]
    times = [(e.received_unix_ns - wall_minus_mono, e.stream, e.reason) for e in entries]
    return letters, times


class Stack(StackBase):
    """Venues, proxies and feed for one scenario run, all in this process (async context manager)."""

    mode = "in-process"

    def __init__(self, scenario: Scenario, seed: int, workdir: Path) -> None:
        super().__init__(scenario, seed, workdir)
        self.events: list[FeedEvent] = []
        self.feed: Feed = None  # type: ignore[assignment]

    async def _start(self) -> None:
        upstreams: dict[str, dict[str, str]] = {}
        for spec in self.specs:
            cls = venue_registry.venue_class(spec.venue)
            venue: VenueBase = await self._exit.enter_async_context(
                cls(venue_config(spec, self.scenario, self.seed))
            )
            self.venues[spec.instance] = venue
            upstreams[spec.instance] = {
                "ws": venue.ws_url,
                **({"rest": venue.rest_url} if venue.rest_url else {}),
            }
        listen = await self._proxy_in_front_of(upstreams)
        settings = FeedSettings(**self.feed_settings(listen, dlq_path=self.workdir / "dlq.sqlite"))
        self.feed = Feed(settings, seed=self.seed)
        self.feed.on_event(self.events.append)
        await self._exit.enter_async_context(self.feed)
        count = sum(len(v.engine.streams) for v in self.feed.venues.values())

        async def subscribed() -> bool:
            venues = self.venues.values()
            return sum(len(s.subscriptions) for v in venues for s in v.sessions.values()) >= count

        await wait_until(subscribed, SUBSCRIBE_TIMEOUT_S, f"the feed did not subscribe its {count} streams")

    async def start_replay(self) -> None:
        """Start every venue's replay."""
        for venue in self.venues.values():
            venue.start_replay()

    async def heal_everything(self) -> None:
        """End every fault: toxics removed, proxies enabled, venue message faults cleared."""
        await self.heal_proxies()
        for venue in self.venues.values():
            venue.clear_faults()

    async def settle(self) -> None:
        """Stop the venues' senders, then wait until the feed is quiet and every book is in sync again."""
        for venue in self.venues.values():
            venue.stall(SETTLE_MAX_S + 5)
        deadline = time.monotonic() + SETTLE_MAX_S
        last = -1
        while time.monotonic() < deadline:
            venues = self.feed.venues.values()
            books_ok = all(b.sync.synced for v in venues for b in v.engine.books.values())
            backfilling = any(v.engine.backfilling for v in venues)
            if len(self.events) == last and books_ok and not backfilling:
                return
            last = len(self.events)
            await asyncio.sleep(SETTLE_QUIET_S)

    async def gather(self, t0_ns: int) -> RunData:
        """The run's histories and end state, read from the live objects."""
        feed = self.feed
        books = {}
        unjudged: list[str] = []
        for instrument, (name, symbol) in feed.instruments().items():
            if feed.book_synced(instrument) is None:
                continue  # no book kept for this instrument
            view = feed.book(instrument)
            try:
                truth = self.venues[name].true_book(symbol, limit=1_000_000)
            except KeyError:
                unjudged.append(instrument)  # the venue keeps no true book of it: nothing to compare with
                continue
            books[instrument] = (truth, view.body() if view is not None else None)
        assert feed.dlq is not None
        feed.dlq.flush()
        letters, letter_times = dead_letters_of(self.workdir / "dlq.sqlite")
        venues = {}
        for spec in self.specs:
            venue: VenueBase = self.venues[spec.instance]
            streams = sorted(feed.venues[spec.instance].engine.streams)
            info = venue.stream_info(streams)
            venues[spec.instance] = VenueRun(
                name=spec.instance,
                adapter=spec.venue,
                streams=streams,
                replay_of={name: entry["replay"] for name, entry in info.items()},
                latest_value={name for name, entry in info.items() if entry["latest_value"]},
                timeline=venue.timeline,
                history=venue.history,
            )
        return RunData(
            t0_ns=t0_ns,
            venues=venues,
            events=self.events,
            books=books,
            books_without_truth=unjudged,
            stats=feed.stats(),
            dead_letters=letters,
            dead_letter_times=letter_times,
        )
