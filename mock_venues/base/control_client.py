"""A client for the venue's control API with the same method names as the in-process venue.

``RemoteVenue(control_url)`` lets scenario code written against an in-process venue (:class:`VenueBase`)
(``venue.set_speed(100)``, ``venue.insert_gap("BTCUSDT", 5)``, ``venue.add_fault("drop", stream=...)``)
drive a venue running in another process: every method returns an awaitable. A 4xx answer raises
:class:`ControlError` with the venue's own error message.
"""

from __future__ import annotations

import dataclasses
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from mock_venues.base.history import VenueHistory
from mock_venues.base.rest_faults import RestFaults
from tickstorm.http_guard import MUTATING


class ControlError(RuntimeError):
    """The venue refused a control request (the message is the venue's error text; ``status``: the HTTP
    status)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class RemoteVenue:
    """Async client of one venue's control API (``async with RemoteVenue(url) as venue``)."""

    def __init__(self, control_url: str, *, timeout_s: float = 30.0) -> None:
        self.control_url = control_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RemoteVenue:
        self._http = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        if self._http is None:
            raise RuntimeError("RemoteVenue used outside 'async with'")
        data: bytes | None = None
        headers: dict[str, str] | None = None
        if body is not None or method in MUTATING:
            # The control API refuses a mutating request without a JSON body type (tickstorm.http_guard).
            data = orjson.dumps(body if body is not None else {})
            headers = {"Content-Type": "application/json"}
        async with self._http.request(
            method, self.control_url + path, data=data, headers=headers, params=params or None
        ) as resp:
            body = await resp.read()
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError:
                text = body[:200].decode(errors="replace")
                raise ControlError(f"{method} {path}: {resp.status} (not JSON) {text}", resp.status) from None
            if resp.status >= 400:
                error = payload.get("error", payload) if isinstance(payload, dict) else payload
                raise ControlError(f"{method} {path}: {resp.status} {error}", resp.status)
            return payload

    # -- the venue's control calls ---------------------------------------------------------------------

    async def state(self) -> dict[str, Any]:
        """URLs, speed, replay progress, connections and active faults."""
        result: dict[str, Any] = await self._call("GET", "/state")
        return result

    async def start_replay(self) -> None:
        """Begin the replay."""
        await self._call("POST", "/replay/start")

    async def set_speed(self, speed: float | None) -> None:
        """Change the replay speed (None: as fast as possible)."""
        await self._call("POST", "/replay/speed", {"speed": speed})

    async def stall(self, duration_s: float) -> None:
        """Hold the sender for ``duration_s`` (intended send times keep running)."""
        await self._call("POST", "/replay/stall", {"duration_s": duration_s})

    async def resume(self) -> None:
        """End a running stall now."""
        await self._call("POST", "/replay/resume")

    async def add_fault(self, kind: str, **params: Any) -> dict[str, Any]:
        """Add a message fault rule; returns its description."""
        result: dict[str, Any] = await self._call("POST", "/faults", {"kind": kind, **params})
        return result

    async def clear_faults(self) -> None:
        """Remove every message fault and the REST fault."""
        await self._call("DELETE", "/faults")

    async def insert_gap(self, symbol: str, skip: int = 1) -> None:
        """Make ``symbol``'s sequence ids jump by ``skip`` (the feed sees a sequence gap)."""
        await self._call("POST", "/gap", {"symbol": symbol, "skip": skip})

    async def set_rest_fault(self, faults: RestFaults) -> None:
        """Install a REST fault (status, delay, count, paths, Retry-After)."""
        body = dataclasses.asdict(faults)
        if body.get("paths") is not None:
            body["paths"] = sorted(body["paths"])
        await self._call("POST", "/rest-faults", body)

    async def close_connections(
        self, code: int = 1000, reason: str = "", connection: int | None = None, shutdown_event: bool = False
    ) -> list[int]:
        """Close client connections with a close frame; returns the ids of the closed connections."""
        result = await self._call(
            "POST",
            "/connections/close",
            {"code": code, "reason": reason, "connection": connection, "shutdown_event": shutdown_event},
        )
        return [int(i) for i in result["closed"]]

    async def true_book(self, symbol: str, limit: int = 5000) -> dict[str, Any]:
        """The venue's true order book of ``symbol`` (ControlError with ``status`` 404 when the venue keeps
        none for it)."""
        result: dict[str, Any] = await self._call("GET", f"/book/{symbol}", limit=str(limit))
        return result

    async def history(self) -> VenueHistory:
        """Everything the venue sent, per connection, with its faults and connection events."""
        return VenueHistory.from_dict(await self._call("GET", "/history"))

    async def timeline(self) -> VenueHistory:
        """Every message published once (connection 0), with its intended send time."""
        return VenueHistory.from_dict(await self._call("GET", "/timeline"))

    async def replay_streams(self, client_streams: list[str]) -> dict[str, str | None]:
        """The replay stream feeding each client stream name (None: nothing recorded feeds it)."""
        body = {"streams": client_streams}
        result: dict[str, str | None] = await self._call("POST", "/replay-streams", body)
        return result

    async def stream_info(self, client_streams: list[str]) -> dict[str, dict[str, Any]]:
        """Per client stream: the replay stream feeding it and whether it is a latest-value stream."""
        result: dict[str, dict[str, Any]] = await self._call(
            "POST", "/stream-info", {"streams": client_streams}
        )
        return result

    async def venue_fault(self, kind: str, **params: Any) -> dict[str, Any]:
        """Inject one of the venue's own faults (``POST /venue-fault``); returns what the venue did."""
        result: dict[str, Any] = await self._call("POST", "/venue-fault", {"kind": kind, **params})
        return result
