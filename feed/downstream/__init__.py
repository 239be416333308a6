"""The feed's downstream side: a WebSocket server for consumers and a small HTTP API (docs/downstream.md).

Modules, one job each: :mod:`.protocol` (the wire protocol, pure), :mod:`.consumer` (one consumer's bounded
queue and slow-consumer policy), :mod:`.hub` (subscriptions and fan-out, each event encoded once),
:mod:`.server` (the ``websockets`` server), :mod:`.http_api` (aiohttp routes), :mod:`.metrics`
(Prometheus families in the feed's registry), :mod:`.service` (feed + servers as one async context).
"""

from feed.downstream.consumer import Consumer, SlowConsumerPolicy
from feed.downstream.server import DownstreamOptions, DownstreamServer

__all__ = ["Consumer", "DownstreamOptions", "DownstreamServer", "SlowConsumerPolicy"]
