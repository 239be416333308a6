"""Mock venues by name: the built-in ones, plus any a program or a plugin module registers.

The name is the venue's CLI name (``tickstorm venue binance-spot``) and matches the feed adapter of the
same venue (:mod:`feed.registry`). Built-ins are imported on first use only; ``TICKSTORM_PLUGINS`` modules
(:mod:`tickstorm.plugins`) are imported before a lookup and register theirs with :func:`register`.
"""

from __future__ import annotations

import importlib

from mock_venues.base.venue import VenueBase
from tickstorm.plugins import load_plugins

BUILTIN: dict[str, str] = {
    "binance-spot": "mock_venues.binance_spot.server:BinanceSpotVenue",
    "alpaca": "mock_venues.alpaca.server:AlpacaVenue",
}
"""Built-in mock venues: name -> ``module:class``."""

_registered: dict[str, type[VenueBase]] = {}


class UnknownVenue(KeyError):
    """A venue name no mock venue is registered under."""

    def __str__(self) -> str:
        return str(self.args[0])


def register(venue: type[VenueBase]) -> None:
    """Register (or replace) a mock venue class under its ``name``."""
    _registered[venue.name] = venue


def unregister(name: str) -> None:
    """Forget a registered venue (built-ins stay)."""
    _registered.pop(name, None)


def names() -> list[str]:
    """Every mock venue name."""
    load_plugins()
    return sorted({*BUILTIN, *_registered})


def venue_class(name: str) -> type[VenueBase]:
    """The mock venue class of ``name``; :class:`UnknownVenue` naming the known ones otherwise."""
    load_plugins()
    found = _registered.get(name)
    if found is not None:
        return found
    target = BUILTIN.get(name)
    if target is None:
        raise UnknownVenue(f"unknown venue {name!r} (known: {', '.join(names())})")
    module, _, attr = target.partition(":")
    cls: type[VenueBase] = getattr(importlib.import_module(module), attr)
    return cls
