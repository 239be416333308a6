"""Plugin modules: ``TICKSTORM_PLUGINS`` (comma-separated module names) lists modules that register venues
outside tickstorm's own packages (a feed adapter and/or a mock venue); both registries import them before
a lookup, so processes the harness starts (which inherit the environment) know them too."""

from __future__ import annotations

import importlib
import os

PLUGINS_ENV = "TICKSTORM_PLUGINS"

_loaded: set[str] = set()


def load_plugins() -> list[str]:
    """Import the modules named in ``TICKSTORM_PLUGINS`` (each once); returns their names."""
    names = [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]
    for module in names:
        if module not in _loaded:
            importlib.import_module(module)
            _loaded.add(module)
    return names
