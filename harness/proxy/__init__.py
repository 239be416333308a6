"""Fault proxy: an embedded, API-compatible Toxiproxy server and the choice of which server to use.

- :class:`EmbeddedToxiproxy` (``harness.proxy.server``): ``async with EmbeddedToxiproxy() as tp:`` serves
  the toxiproxy-server 2.12.0 HTTP API at ``tp.api_url`` in the current event loop.
- :func:`toxiproxy_endpoint` (``harness.proxy.select``): TOXIPROXY_URL, else ``toxiproxy-server`` on PATH,
  else the embedded server; ``ep.kind`` says which.

Module map: ``gojson`` (Go JSON decoding/encoding quirks), ``addr`` (Go address handling), ``model`` (toxic
types, JSON shapes, validation), ``toxics`` (what each toxic does to a link), ``link`` (TCP forwarding),
``proxy`` (server state and API rules), ``metrics``, ``api`` (HTTP), ``server``, ``select``, ``cli``.
"""

from harness.proxy.select import ToxiproxyEndpoint, toxiproxy_endpoint
from harness.proxy.server import ConfigError, EmbeddedToxiproxy

__all__ = ["ConfigError", "EmbeddedToxiproxy", "ToxiproxyEndpoint", "toxiproxy_endpoint"]
