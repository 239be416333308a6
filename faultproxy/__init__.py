"""The embedded fault proxy: an API-compatible Toxiproxy server (toxiproxy-server 2.12.0's HTTP API and
toxic semantics) that tickstorm uses when no real Toxiproxy server is available.

``async with EmbeddedToxiproxy() as tp:`` serves the API at ``tp.api_url`` in the current event loop;
``tickstorm proxy`` runs it as a process. Which server a run uses (TOXIPROXY_URL, ``toxiproxy-server`` on
PATH, else this one) is the harness's choice: :mod:`harness.toxiproxy_endpoint`.

Module map: ``gojson`` (Go JSON decoding/encoding quirks), ``addr`` (Go address handling), ``model`` (toxic
types, JSON shapes, validation), ``toxics`` (what each toxic does to a link), ``link`` (TCP forwarding),
``proxy`` (server state and API rules), ``metrics``, ``api`` (HTTP), ``server``, ``cli``.
"""

from faultproxy.server import ConfigError, EmbeddedToxiproxy

__all__ = ["ConfigError", "EmbeddedToxiproxy"]
