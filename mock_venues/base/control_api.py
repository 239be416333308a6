"""The venue's control HTTP API (loopback): faults a TCP proxy cannot make, speed, closes, true book.

Every route maps onto a method of :class:`~mock_venues.base.venue.VenueBase` (any venue), so tests use
the Python calls and other processes (the harness, scenario scripts) use HTTP. Bad requests get a 400 with
``{"error": "<what is wrong>"}``; nothing is half-applied.

Routes::

    GET    /state                      urls, speed, progress, connections, active faults
    GET    /streams                    every replayed stream that carries data
    POST   /replay/start               begin the replay (venue started with autostart off)
    POST   /replay/speed               {"speed": 10 | null}        null = as fast as possible
    POST   /replay/stall               {"duration_s": 0.2}  (at most 3600 s; replaces a running stall)
    POST   /replay/resume              end a running stall now (a speed change ends it too)
    GET    /faults                     active message fault rules
    POST   /faults                     {"kind": "drop", "stream": "btcusdt@depth*", "count": 1,
                                        "probability": 1.0, "duration_s": null}
    DELETE /faults/{id}   DELETE /faults
    POST   /connections/close          {"code": 1001, "reason": "", "connection": null,
                                        "shutdown_event": false}
    POST   /gap                        {"symbol": "BTCUSDT", "skip": 10}
    POST   /rest-faults                {"status": 429, "count": 3, "delay_s": 0, "paths": null,
                                        "retry_after_s": 1}
    DELETE /rest-faults
    GET    /book/{symbol}?limit=5000   the venue's true book (limit: a positive integer)
    GET    /history/summary            counts per stream/connection/event kind
    GET    /history                    the whole venue history (columns)
    GET    /timeline                   every message published once, with its intended send time
    POST   /replay-streams             {"streams": [client stream names]} -> {name: replay stream | null}
    POST   /stream-info                {"streams": [...]} -> {name: {"replay", "latest_value"}}
    POST   /venue-fault                {"kind": "...", ...}  the venue's own faults (VenueBase.venue_fault)

Every mutating request (POST, DELETE) must come with ``Content-Type: application/json`` (415 otherwise)
and a loopback ``Host`` (403 otherwise), so a web page cannot drive the API (:mod:`tickstorm.http_guard`).
Duration-like fields (``duration_s``, ``delay_s``, ``retry_after_s``) are bounded by
:data:`~mock_venues.base.durations.MAX_DURATION_S`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from websockets.frames import EXTERNAL_CLOSE_CODES

from mock_venues.base.faults import FaultError
from mock_venues.base.rest_faults import RestFaults
from tickstorm.http_guard import loopback_guard

if TYPE_CHECKING:
    from mock_venues.base.venue import VenueBase

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
VENUE_KEY = web.AppKey("venue", object)


class BadControlRequest(ValueError):
    """A control request with a missing or wrongly typed field."""


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _error(message: str, status: int = 400) -> web.Response:
    return _json({"error": message}, status)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadControlRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadControlRequest("body must be a JSON object")
    return body


def _number(
    body: dict[str, Any], key: str, default: float | None, *, allow_null: bool = False
) -> float | None:
    value = body.get(key, default)
    if value is None:
        if allow_null or default is None:
            return None
        raise BadControlRequest(f"{key} must be a number")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadControlRequest(f"{key} must be a number, got {value!r}")
    return float(value)


def _int(body: dict[str, Any], key: str, default: int | None) -> int | None:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadControlRequest(f"{key} must be an integer, got {value!r}")
    return value


def build_control_app(venue: VenueBase) -> web.Application:
    """The control API application bound to one venue."""

    def guarded(handler: Handler) -> Handler:
        async def wrapper(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except (BadControlRequest, FaultError, ValueError) as exc:
                return _error(str(exc))
            except KeyError as exc:
                return _error(f"not found: {exc.args[0]}", 404)

        return wrapper

    async def state(_: web.Request) -> web.Response:
        return _json(venue.state())

    async def streams(_: web.Request) -> web.Response:
        return _json(venue.source.streams)

    async def replay_start(_: web.Request) -> web.Response:
        venue.start_replay()
        return _json({"started": True})

    async def replay_speed(request: web.Request) -> web.Response:
        body = await _body(request)
        if "speed" not in body:
            raise BadControlRequest(
                "speed is required (a number in [0.1, 100], or null for as fast as possible)"
            )
        venue.set_speed(_number(body, "speed", None, allow_null=True))
        return _json({"speed": venue.publisher.clock.speed})

    async def replay_stall(request: web.Request) -> web.Response:
        body = await _body(request)
        duration = _number(body, "duration_s", None)
        if duration is None:
            raise BadControlRequest("duration_s is required")
        venue.stall(duration)
        return _json({"stalled_s": duration})

    async def replay_resume(_: web.Request) -> web.Response:
        venue.resume()
        return _json({"stalled": False})

    async def faults_list(_: web.Request) -> web.Response:
        return _json([r.describe() for r in venue.faults.rules()])

    async def faults_add(request: web.Request) -> web.Response:
        body = await _body(request)
        unknown = set(body) - {"kind", "stream", "count", "probability", "duration_s"}
        if unknown:
            raise BadControlRequest(f"unknown field(s): {', '.join(sorted(unknown))}")
        if not isinstance(body.get("kind"), str):
            raise BadControlRequest(
                "kind is required (drop, duplicate, reorder, corrupt, silence, refuse_subscribe)"
            )
        params = {k: v for k, v in body.items() if k != "kind"}
        rule = venue.add_fault(body["kind"], **params)
        return _json(rule.describe(), 201)

    async def faults_delete(request: web.Request) -> web.Response:
        try:
            rule_id = int(request.match_info["fault_id"])
        except ValueError:
            raise BadControlRequest("fault id must be an integer") from None
        if not venue.remove_fault(rule_id):
            return _error(f"no fault {rule_id}", 404)
        return _json({"removed": rule_id})

    async def faults_clear(_: web.Request) -> web.Response:
        venue.clear_faults()
        return _json({"cleared": True})

    async def connections_close(request: web.Request) -> web.Response:
        body = await _body(request)
        code = _int(body, "code", 1000)
        if code is None:
            raise BadControlRequest("code must be an integer close code")
        if code not in EXTERNAL_CLOSE_CODES and not 3000 <= code <= 4999:
            raise BadControlRequest(f"code {code} is not a close code a server may send")
        reason = body.get("reason", "")
        if not isinstance(reason, str) or len(reason.encode()) > 123:
            raise BadControlRequest("reason must be a string of at most 123 bytes")
        shutdown = body.get("shutdown_event", False)
        if not isinstance(shutdown, bool):
            raise BadControlRequest("shutdown_event must be a boolean")
        closed = await venue.close_connections(code, reason, _int(body, "connection", None), shutdown)
        return _json({"closed": closed})

    async def gap(request: web.Request) -> web.Response:
        body = await _body(request)
        symbol = body.get("symbol")
        if not isinstance(symbol, str):
            raise BadControlRequest("symbol is required")
        skip = _int(body, "skip", 1)
        if skip is None:
            raise BadControlRequest("skip must be an integer")
        venue.insert_gap(symbol, skip)
        return _json({"symbol": symbol.upper(), "skip": skip})

    async def rest_faults_set(request: web.Request) -> web.Response:
        body = await _body(request)
        fields = {f.name for f in dataclasses.fields(RestFaults)}
        unknown = set(body) - fields
        if unknown:
            raise BadControlRequest(
                f"unknown field(s): {', '.join(sorted(unknown))}; known: {sorted(fields)}"
            )
        params = dict(body)
        if params.get("paths") is not None:
            if not isinstance(params["paths"], list) or not all(isinstance(p, str) for p in params["paths"]):
                raise BadControlRequest("paths must be a list of endpoint paths or null")
            params["paths"] = frozenset(params["paths"])
        status = params.get("status")
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise BadControlRequest("status must be an HTTP error status (400-599) or null")
        _number(params, "delay_s", 0.0)
        venue.set_rest_fault(RestFaults(**params))
        return _json({"rest_fault": {k: v for k, v in body.items()}})

    async def rest_faults_clear(_: web.Request) -> web.Response:
        venue.set_rest_fault(RestFaults())
        return _json({"cleared": True})

    async def book(request: web.Request) -> web.Response:
        text = request.query.get("limit", "5000")
        if not text.isascii() or not text.isdigit() or int(text) < 1:
            raise BadControlRequest(f"limit must be a positive integer, got {text!r}")
        limit = int(text)
        return _json(venue.true_book(request.match_info["symbol"], limit))

    async def history_summary(_: web.Request) -> web.Response:
        return _json(venue.history.summary())

    async def history_full(_: web.Request) -> web.Response:
        return _json(venue.history.to_dict())

    async def timeline(_: web.Request) -> web.Response:
        return _json(venue.timeline.to_dict())

    async def _names(request: web.Request) -> list[str]:
        names = (await _body(request)).get("streams")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise BadControlRequest("streams must be a list of stream names")
        return names

    async def replay_streams(request: web.Request) -> web.Response:
        return _json({name: venue.replay_stream_for(name) for name in await _names(request)})

    async def stream_info(request: web.Request) -> web.Response:
        return _json(venue.stream_info(await _names(request)))

    async def venue_fault(request: web.Request) -> web.Response:
        body = await _body(request)
        kind = body.get("kind")
        if not isinstance(kind, str):
            known = ", ".join(venue.venue_fault_kinds) or "none"
            raise BadControlRequest(f"kind is required (this venue's faults: {known})")
        params = {k: v for k, v in body.items() if k != "kind"}
        try:
            result = await venue.venue_fault(kind, **params)
        except TypeError as exc:  # an unknown parameter name
            raise BadControlRequest(str(exc)) from None
        return _json(result, 201)

    app = web.Application(middlewares=[loopback_guard()])
    app[VENUE_KEY] = venue
    routes = [
        web.get("/state", guarded(state)),
        web.get("/streams", guarded(streams)),
        web.post("/replay/start", guarded(replay_start)),
        web.post("/replay/speed", guarded(replay_speed)),
        web.post("/replay/stall", guarded(replay_stall)),
        web.post("/replay/resume", guarded(replay_resume)),
        web.get("/faults", guarded(faults_list)),
        web.post("/faults", guarded(faults_add)),
        web.delete("/faults", guarded(faults_clear)),
        web.delete("/faults/{fault_id}", guarded(faults_delete)),
        web.post("/connections/close", guarded(connections_close)),
        web.post("/gap", guarded(gap)),
        web.post("/rest-faults", guarded(rest_faults_set)),
        web.delete("/rest-faults", guarded(rest_faults_clear)),
        web.get("/book/{symbol:.+}", guarded(book)),
        web.get("/history/summary", guarded(history_summary)),
        web.get("/history", guarded(history_full)),
        web.get("/timeline", guarded(timeline)),
        web.post("/replay-streams", guarded(replay_streams)),
        web.post("/stream-info", guarded(stream_info)),
        web.post("/venue-fault", guarded(venue_fault)),
    ]
    app.add_routes(routes)
    return app
