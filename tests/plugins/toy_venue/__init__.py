"""A toy venue, registered on both seams: proof that a venue is one package per side plus registration.

Its mock (``mock.py``) replays the trades of the bundled Binance tape in a wire format of its own; its
feed adapter (``adapter.py``) decodes that format. Importing this package registers both
(``TICKSTORM_PLUGINS=toy_venue`` with ``tests/plugins`` on ``PYTHONPATH`` does it for the processes the
harness starts). docs/adding-a-venue.md follows it step by step.
"""

from feed import registry as feed_registry
from mock_venues import registry as mock_registry
from toy_venue.adapter import ToyAdapter
from toy_venue.mock import ToyVenue

feed_registry.register(ToyAdapter.name, ToyAdapter)
mock_registry.register(ToyVenue)
