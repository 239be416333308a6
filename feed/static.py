"""Static mode: a recording run through the feed's own engine (decode → sequence → book → events), no
sockets.

Frames go to a :class:`~feed.engine.VenueEngine` in recorded order with their recorded receive times as the
clock, and the recorded REST snapshots answer the engine's snapshot requests (the latest one seen when a
request is made, else the next one the recording holds), so the event stream is a pure function of the
recording: the same file always gives byte-identical output (golden tests rely on it). Backfill is
impossible without a venue: holes become gap events. The venue's adapter says what the recorded messages
look like on the wire (:meth:`~feed.adapter.VenueAdapter.recorded_frame`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from feed import registry
from feed.adapter import BackfillRequest, SnapshotRequest, VenueAdapter
from feed.engine import EngineSettings, VenueEngine
from feed.events import HEADER_LINE, FeedEvent, to_json_line
from tickstorm.recording import read_recording

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


def recorded_streams(path: Path) -> list[str]:
    """Every stream name the recording carries (what static mode subscribes by default)."""
    return sorted({r.stream for r in read_recording(path) if r.src == "ws" and r.stream is not None})


def run_static(
    paths: list[Path],
    out: IO[bytes] | None = None,
    *,
    streams: list[str] | None = None,
    settings: EngineSettings | None = None,
    venue: str = "binance-spot",
) -> StaticResult:
    """Replay recordings (one capture, in file order) through a venue's engine; write events as JSON Lines
    (after the schema header line). ``ValueError`` for a stream the venue's adapter does not know."""
    adapter: VenueAdapter = registry.adapter(venue)
    result = StaticResult()
    engine = VenueEngine(venue, adapter, settings)
    wanted = streams if streams is not None else sorted({s for p in paths for s in recorded_streams(p)})
    specs = [adapter.parse_stream(name) for name in wanted]
    unknown = [name for name, spec in zip(wanted, specs, strict=True) if spec is None]
    if unknown:
        raise ValueError(f"not {venue} streams the feed ingests: {', '.join(unknown)}")
    book_streams = {spec.symbol: spec.name for spec in specs if spec is not None and spec.book}
    if out is not None:
        out.write(HEADER_LINE)
    latest: dict[str, object] = {}
    waiting: set[str] = set()
    started = False
    last_tick = 0
    now = 0

    def deliver() -> None:
        for event in engine.events_received():
            _emit(event, now)
        for letter in engine.dead_letters():
            result.dead_letters.append((letter.stream, letter.reason))
        for request in engine.requests_to_send():
            if isinstance(request, SnapshotRequest):
                symbol = engine.streams[request.stream].spec.symbol
                snap = latest.pop(symbol, None)
                if snap is not None:
                    engine.receive_snapshot(request.stream, snap, now)
                else:
                    waiting.add(symbol)
            elif isinstance(request, BackfillRequest):
                engine.backfill_failed(request.stream, "static mode has no REST venue", now)
        if engine.has_output:
            deliver()

    def _emit(event: FeedEvent, at: int) -> None:
        event.deliver_ns = at
        result.events += 1
        result.by_type[event.type] = result.by_type.get(event.type, 0) + 1
        if out is not None:
            out.write(to_json_line(event))

    for path in paths:
        for record in read_recording(path):
            t = record.time_ns
            if not t:
                continue
            now = t
            if not started:
                engine.watch([s for s in specs if s is not None], t)
                started = True
                last_tick = t
            if record.src == "rest" and record.url is not None:
                symbol = adapter.recorded_snapshot(record.url, record.data)
                if symbol is None or symbol not in book_streams:
                    continue
                result.snapshots += 1
                if symbol in waiting:
                    waiting.discard(symbol)
                    engine.receive_snapshot(book_streams[symbol], record.data, t)
                else:
                    latest[symbol] = record.data
            elif record.src == "ws" and record.stream in engine.streams:
                result.frames += 1
                engine.receive_frame(adapter.recorded_frame(record.stream, record.data), t)
            if t - last_tick >= TICK_EVERY_NS:
                engine.tick(t)
                last_tick = t
            if engine.has_output:
                deliver()
    result.rejected = engine.counters.rejected_total
    return result
