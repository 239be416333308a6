"""Pure codec for the live control protocol (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET/GET_PROPERTY).

``parse_control(frame)`` turns one client text frame into a :class:`ControlCommand` or a
:class:`ControlError` carrying the code and message Binance answers with; ``encode_result`` and
``encode_error`` build the reply frames (errors in the nested ``{"error":{...},"id":...}`` shape the live
server uses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from mock_venues.binance_spot.streams import parse_stream

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_ID_STRING = re.compile(r"[A-Za-z0-9\-]{1,36}")
_INT64 = (-(2**63), 2**63 - 1)

ControlId = int | str | None


@dataclass(frozen=True)
class ControlCommand:
    """A well-formed control request."""

    method: str
    params: tuple[Any, ...]
    id: ControlId


@dataclass(frozen=True)
class ControlError:
    """A request the venue rejects, with Binance's error code and message."""

    id: ControlId
    code: int
    msg: str


def _valid_id(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return _INT64[0] <= value <= _INT64[1]
    return isinstance(value, str) and _ID_STRING.fullmatch(value) is not None


def parse_control(frame: str | bytes) -> ControlCommand | ControlError:
    """Decode and validate one control frame (never raises)."""
    try:
        msg = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        return ControlError(None, 3, f"Invalid JSON: {exc}")
    if not isinstance(msg, dict):
        return ControlError(None, 3, "Invalid JSON: expected an object")
    if "id" not in msg or not _valid_id(msg["id"]):
        return ControlError(None, 2, "Invalid request: request ID must be an unsigned integer")
    req_id: ControlId = msg["id"]
    method = msg.get("method")
    if method is None:
        return ControlError(req_id, 2, "Invalid request: missing field `method`")
    if method not in METHODS:
        allowed = ", ".join(f"`{m}`" for m in METHODS)
        return ControlError(
            req_id, 2, f"Invalid request: unknown variant `{method}`, expected one of {allowed}"
        )
    params = msg.get("params")
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        return _parse_stream_list(method, params, req_id)
    if method == "LIST_SUBSCRIPTIONS":
        if params not in (None, []):
            return ControlError(req_id, 2, "Invalid request: too many parameters")
        return ControlCommand(method, (), req_id)
    return _parse_property(method, params, req_id)


def _parse_stream_list(method: str, params: Any, req_id: ControlId) -> ControlCommand | ControlError:
    if not isinstance(params, list):
        return ControlError(req_id, 2, "Invalid request: params must be a list of stream names")
    for name in params:
        if not isinstance(name, str) or parse_stream(name) is None:
            return ControlError(req_id, 2, "Invalid request: invalid stream")
    return ControlCommand(method, tuple(dict.fromkeys(params)), req_id)


def _parse_property(method: str, params: Any, req_id: ControlId) -> ControlCommand | ControlError:
    if not isinstance(params, list) or not params or not isinstance(params[0], str):
        return ControlError(req_id, 2, "Invalid request: property name must be a string")
    if params[0] != "combined":
        return ControlError(req_id, 0, "Unknown property")
    expected = 2 if method == "SET_PROPERTY" else 1
    if len(params) > expected:
        return ControlError(req_id, 2, "Invalid request: too many parameters")
    if method == "SET_PROPERTY" and (len(params) < 2 or not isinstance(params[1], bool)):
        return ControlError(req_id, 1, "Invalid value type: expected Boolean")
    return ControlCommand(method, tuple(params), req_id)


def encode_result(req_id: ControlId, result: Any) -> bytes:
    """``{"result":...,"id":...}``."""
    return orjson.dumps({"result": result, "id": req_id})


def encode_error(req_id: ControlId, code: int, msg: str) -> bytes:
    """``{"error":{"code":...,"msg":...},"id":...}`` (the nested shape of the live server)."""
    return orjson.dumps({"error": {"code": code, "msg": msg}, "id": req_id})
