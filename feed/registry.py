"""Venue adapters by name: the built-in ones, plus any a program or a plugin module registers.

A name is the venue's registry name and its CLI name (``tickstorm feed --venue binance-spot``); the mock
venue of the same venue is registered under the same name on the mock side (:mod:`mock_venues.registry`).
Built-ins are imported on first use only. ``TICKSTORM_PLUGINS`` (comma-separated module names) lists
modules to import first: each registers its adapters with :func:`register` (how a venue living outside
this package, e.g. the test suite's toy venue, reaches feed processes the harness starts).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from feed.adapter import VenueAdapter
from tickstorm.plugins import load_plugins

AdapterFactory = Callable[[], VenueAdapter]

BUILTIN: dict[str, str] = {
    "binance-spot": "feed.binance_spot.adapter:BinanceSpotAdapter",
    "alpaca": "feed.alpaca.adapter:AlpacaAdapter",
}
"""Built-in adapters: name -> ``module:factory``."""

_registered: dict[str, AdapterFactory] = {}


class UnknownVenue(KeyError):
    """A venue name no adapter is registered under."""

    def __str__(self) -> str:
        return str(self.args[0])


def register(name: str, factory: AdapterFactory) -> None:
    """Register (or replace) the adapter factory for venue ``name``."""
    _registered[name] = factory


def unregister(name: str) -> None:
    """Forget a registered adapter (built-ins stay)."""
    _registered.pop(name, None)


def names() -> list[str]:
    """Every venue name an adapter exists for."""
    load_plugins()
    return sorted({*BUILTIN, *_registered})


def adapter(name: str) -> VenueAdapter:
    """A new adapter for venue ``name``; :class:`UnknownVenue` naming the known ones otherwise."""
    load_plugins()
    factory = _registered.get(name)
    if factory is not None:
        return factory()
    target = BUILTIN.get(name)
    if target is None:
        raise UnknownVenue(f"unknown venue {name!r} (known: {', '.join(names())})")
    module, _, attr = target.partition(":")
    made: VenueAdapter = getattr(importlib.import_module(module), attr)()
    return made
