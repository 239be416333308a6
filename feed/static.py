"""Static mode: a recording run through the feed's own decode → sequence → book → delivery core, no sockets.

Frames are fed to :class:`~feed.binance_spot.core.FeedCore` in recorded order with their recorded receive
times as the clock, and the recorded REST depth snapshots answer the core's snapshot requests (the latest
one seen when a request is made, else the next one the recording holds), so the event stream is a pure
function of the recording: the same file always gives byte-identical output (golden tests rely on it).
Backfill is impossible without a venue: holes become gap events.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import parse_qs, urlsplit

import orjson

from feed.binance_spot.core import BackfillRequest, CoreSettings, FeedCore, SnapshotRequest
from feed.events import FeedEvent, to_json_line

TICK_EVERY_NS = 10_000_000


@dataclass
class StaticResult:
    """What a static run saw and delivered."""

    frames: int = 0
    snapshots: int = 0
    events: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    dead_letters: list[tuple[str | None, str]] = field(default_factory=list)


def _records(path: Path) -> Iterator[dict[str, Any]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        for lineno, line in enumerate(cast(IO[bytes], fh), 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not JSON ({exc})") from None
            if isinstance(record, dict):
                yield record


def _time_ns(record: dict[str, Any]) -> int:
    recv = record.get("recv_ns")
    if isinstance(recv, int):
        return recv
    ts = record.get("ts")
    return round(ts * 1e9) if isinstance(ts, int | float) else 0


def _snapshot_symbol(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.path.endswith("/depth"):
        return None
    return parse_qs(parts.query).get("symbol", [""])[0].upper() or None


def recorded_streams(path: Path) -> list[str]:
    """Every stream name the recording carries (what static mode subscribes by default)."""
    return sorted(
        {r["stream"] for r in _records(path) if r.get("src") == "ws" and isinstance(r.get("stream"), str)}
    )


def run_static(
    paths: list[Path],
    out: IO[bytes] | None = None,
    *,
    streams: list[str] | None = None,
    settings: CoreSettings | None = None,
) -> StaticResult:
    """Replay recordings (one capture, in file order) through the feed core; write events as JSON Lines."""
    result = StaticResult()
    now = [0]

    def emit(event: FeedEvent) -> None:
        result.events += 1
        result.by_type[event.type] = result.by_type.get(event.type, 0) + 1
        if out is not None:
            out.write(to_json_line(event))

    def dead_letter(raw: bytes, stream: str | None, reason: str) -> None:
        result.dead_letters.append((stream, reason))

    core = FeedCore(emit=emit, clock=lambda: now[0], dead_letter=dead_letter, settings=settings)
    wanted = streams if streams is not None else sorted({s for p in paths for s in recorded_streams(p)})
    latest: dict[str, dict[str, Any]] = {}
    waiting: set[str] = set()
    started = False
    last_tick = 0

    def serve_requests() -> None:
        while core.requests:
            request = core.requests.popleft()
            if isinstance(request, SnapshotRequest):
                snap = latest.pop(request.symbol, None)
                if snap is not None:
                    core.on_snapshot(request.symbol, snap, now[0])
                else:
                    waiting.add(request.symbol)
            elif isinstance(request, BackfillRequest):
                core.on_backfill_failed(request.stream, "static mode has no REST venue", now[0])

    for path in paths:
        for record in _records(path):
            t = _time_ns(record)
            if not t:
                continue
            now[0] = t
            if not started:
                core.watch(wanted, t)
                started = True
                last_tick = t
            src = record.get("src")
            if src == "rest":
                symbol = _snapshot_symbol(str(record.get("url") or ""))
                data = record.get("data")
                if symbol is None or not isinstance(data, dict):
                    continue
                result.snapshots += 1
                if symbol in waiting:
                    waiting.discard(symbol)
                    core.on_snapshot(symbol, data, t)
                else:
                    latest[symbol] = data
            elif src == "ws" and record.get("stream") in core.streams:
                result.frames += 1
                frame = (
                    b'{"stream":"'
                    + record["stream"].encode()
                    + b'","data":'
                    + orjson.dumps(record["data"])
                    + b"}"
                )
                core.on_frame(frame, t)
            if t - last_tick >= TICK_EVERY_NS:
                core.tick(t)
                last_tick = t
            if core.requests:
                serve_requests()
    result.rejected = core.rejected
    return result
