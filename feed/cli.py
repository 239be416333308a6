"""`tickstorm feed` (live or static) and `tickstorm dlq` (inspect the dead letter queue)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from feed.logs import LEVELS
from tickstorm.ports import port_arg

if TYPE_CHECKING:
    from feed.dlq import DeadLetterQueue

VENUE_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--name", "name", "name of this venue instance (default: the venue); instruments are NAME:SYMBOL"),
    ("--symbols", "symbols", "comma-separated symbols, e.g. btcusdt,ethusdt"),
    ("--streams", "streams", "comma-separated stream kinds, e.g. trade,depth@100ms,bookTicker"),
    ("--ws-url", "ws_url", "WebSocket base URL (default: the venue's live URL)"),
    ("--rest-url", "rest_url", "REST base URL (default: the venue's live URL)"),
)
"""Options of one venue: before any ``--venue`` they apply to the feed's only venue; after ``--venue NAME``
to that venue (repeat ``--venue`` for several venues on one feed)."""


class _StartVenue(argparse.Action):
    """``--venue NAME``: the venue options that follow belong to a new venue of adapter NAME."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        groups = list(getattr(namespace, "venue_groups", None) or [])
        groups.append({"venue": values})
        namespace.venue_groups = groups


class _VenueOption(argparse.Action):
    """A venue option: into the venue started last, else the feed's single venue."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        groups = getattr(namespace, "venue_groups", None)
        if groups:
            groups[-1][self.dest] = values
        else:
            setattr(namespace, self.dest, values)


def register(subparsers: Any) -> None:
    """Add the ``feed`` and ``dlq`` subcommands."""
    feed = subparsers.add_parser(
        "feed",
        help="run the reference feed (live venues, or --static RECORDING)",
        description=(
            "Run the reference feed on one or more venues (repeat --venue NAME, each followed by its own "
            "options). Options override the TOML config file and TICKSTORM_FEED_* environment variables "
            "(docs/configuration.md lists every option)."
        ),
    )
    feed.add_argument("--config", type=Path, help="TOML settings file")
    feed.add_argument(
        "--venue",
        action=_StartVenue,
        metavar="NAME",
        help="ingest this venue (a registered venue name, e.g. binance-spot); the venue options after it "
        "are this venue's; repeat for several venues",
    )
    feed.set_defaults(venue_groups=None)
    for flag, dest, text in VENUE_FLAGS:
        feed.add_argument(flag, dest=dest, action=_VenueOption, help=text)
    feed.add_argument(
        "--metrics-port", type=port_arg, help="serve Prometheus metrics on this loopback port (0: any)"
    )
    feed.add_argument(
        "--serve-port",
        type=port_arg,
        help="run the downstream WebSocket server for consumers on this port (0: any; docs/downstream.md)",
    )
    feed.add_argument(
        "--serve-http-port",
        type=port_arg,
        help="port of the downstream HTTP API while serving (default 0: any)",
    )
    feed.add_argument(
        "--dlq", type=_path_or_empty, help="dead letter queue SQLite file ('' turns the DLQ off)"
    )
    feed.add_argument("--jsonl", type=Path, help="write every delivered event as one JSON object per line")
    feed.add_argument(
        "--resume",
        action="store_true",
        default=None,
        help="continue from the --jsonl journal of an earlier run (after a crash) instead of starting over",
    )
    feed.add_argument(
        "--state-out",
        type=Path,
        help="write the feed's state (books, sync, counters) as JSON here on SIGUSR1 and on stop",
    )
    feed.add_argument(
        "--static",
        type=Path,
        action="append",
        metavar="RECORDING",
        help="no sockets: run a normalized recording through the feed pipeline (repeat for split captures)",
    )
    feed.add_argument("--no-uvloop", action="store_true", help="use the default asyncio event loop")
    feed.add_argument(
        "--log-level",
        choices=LEVELS,
        default="info",
        help="console log level on stderr (default info: connections, gaps, resyncs, refusals)",
    )
    feed.add_argument("--quiet", action="store_true", help="log problems only (--log-level warning)")
    feed.add_argument("--log-json", action="store_true", help="log one JSON object per line (for machines)")
    feed.set_defaults(func=run_feed)

    dlq = subparsers.add_parser(
        "dlq", help="inspect the feed's dead letter queue", description="Inspect a DLQ file."
    )
    dlq_sub = dlq.add_subparsers(dest="dlq_command", metavar="ACTION")
    dlq_sub.required = True
    for name, helptext in (
        ("list", "one line per rejected frame"),
        ("show", "one entry in full"),
        ("export", "every entry as JSON Lines (raw payload as text when it is valid UTF-8)"),
    ):
        action = dlq_sub.add_parser(name, help=helptext, description=helptext)
        action.add_argument(
            "--dlq",
            type=Path,
            default=None,
            help="the SQLite file (default: the feed's default, in the state directory)",
        )
        if name == "show":
            action.add_argument("id", type=int, help="entry id")
        if name in ("list", "export"):
            action.add_argument("--stream", help="only this stream")
            action.add_argument("--limit", type=int, help="at most this many entries")
        action.set_defaults(func=run_dlq)


def _path_or_empty(text: str) -> Path | str:
    """A path, or ``""`` kept as is (``Path("")`` would be the working directory)."""
    return Path(text) if text else ""


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    venues = args.venue_groups
    return {
        **{dest: getattr(args, dest, None) for _, dest, _ in VENUE_FLAGS},
        "venues": venues if venues else None,
        "metrics_port": args.metrics_port,
        "serve_port": args.serve_port,
        "serve_http_port": args.serve_http_port,
        "dlq_path": args.dlq,
        "jsonl": args.jsonl,
        "resume": args.resume,
    }


def run_feed(args: argparse.Namespace) -> int:
    """Entry point of ``tickstorm feed``."""
    from feed import logs
    from feed.config import ConfigError, load_settings
    from feed.dlq import DLQError
    from feed.journal import JournalError
    from tickstorm.ports import ListenError

    logs.setup("warning" if args.quiet else args.log_level, json=args.log_json)
    if args.static:
        return _run_static(args)
    try:
        settings = load_settings(args.config, **_overrides(args))
    except ConfigError as exc:
        print(f"tickstorm feed: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    from feed.feed import Feed
    from feed.state_file import feed_state, write_state
    from tickstorm.service import run_service

    dumps = 0

    def dump_state(running: Feed, final: bool = False) -> None:
        nonlocal dumps
        if args.state_out is not None:
            dumps += 1
            write_state(args.state_out, feed_state(running, sequence=dumps, final=final))

    def ready(running: Feed) -> dict[str, Any]:
        if args.state_out is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_state, running)
        venues = {
            name: {
                "adapter": v.adapter.name,
                "streams": len(v.engine.streams),
                "connections": len(v.pool.connections),
            }
            for name, v in running.venues.items()
        }
        return {
            "event": "ready",
            "venues": venues,
            "streams": sum(v["streams"] for v in venues.values()),
            "metrics": f"http://{settings.metrics_host}:{running.metrics_port}/metrics"
            if running.metrics_port is not None
            else None,
            "pid": os.getpid(),
        }

    def on_stop(running: Feed) -> None:
        dump_state(running, final=True)
        print(orjson.dumps({"event": "stopped", **running.stats()}).decode(), file=sys.stderr)

    from feed.venue_feed import UnknownSymbols

    try:
        if settings.serve_port is not None:
            return _run_served(settings, ready, on_stop, use_uvloop=not args.no_uvloop)
        return run_service(
            Feed(settings),
            ready,
            use_uvloop=not args.no_uvloop,
            on_stop=on_stop,
            wait_ready=lambda running: running.wait_ready(),
        )
    except (ListenError, DLQError, JournalError, UnknownSymbols) as exc:  # raised while starting
        print(f"tickstorm feed: {exc}", file=sys.stderr)
        return 2


def _run_served(settings: Any, ready: Any, on_stop: Any, *, use_uvloop: bool) -> int:
    """The feed with its downstream WebSocket server and HTTP API (the ready line adds their URLs)."""
    from feed.downstream.server import DownstreamOptions
    from feed.downstream.service import ServedFeed
    from feed.feed import Feed
    from tickstorm.service import run_service

    def served_ready(served: ServedFeed) -> dict[str, Any]:
        return {**ready(served.feed), **served.urls()}

    def served_stop(served: ServedFeed) -> None:
        print(
            orjson.dumps({"event": "downstream_stopped", **served.server.stats()}).decode(), file=sys.stderr
        )
        on_stop(served.feed)

    served = ServedFeed(Feed(settings), DownstreamOptions.from_settings(settings))
    return run_service(
        served,
        served_ready,
        use_uvloop=use_uvloop,
        on_stop=served_stop,
        wait_ready=lambda running: running.feed.wait_ready(),
    )


def _run_static(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from feed import registry
    from feed.config import VenueOptions, resolve_venue
    from feed.journal import JournalError, open_sink
    from feed.static import run_static

    missing = [str(p) for p in args.static if not p.is_file()]
    if missing:
        print(f"tickstorm feed: recording not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    groups = args.venue_groups or [{}]
    if len(groups) > 1:
        print(
            "tickstorm feed: --static replays one venue's recording: give at most one --venue",
            file=sys.stderr,
        )
        return 2
    given = {dest: getattr(args, dest, None) for _, dest, _ in VENUE_FLAGS} | groups[0]
    venue = given.get("venue") or "binance-spot"
    streams = None
    if given.get("symbols") or given.get("streams"):
        if not (given.get("symbols") and given.get("streams")):
            print("tickstorm feed: give both --symbols and --streams (or neither)", file=sys.stderr)
            return 2
        try:
            options = VenueOptions.model_validate({k: v for k, v in given.items() if v is not None})
        except ValidationError as exc:
            print(f"tickstorm feed: {exc.errors()[0]['msg']}", file=sys.stderr)
            return 2
        settings, problems = resolve_venue(options)
        if settings is None:
            print(f"tickstorm feed: {'; '.join(problems)}", file=sys.stderr)
            return 2
        streams = [spec.name for spec in registry.adapter(settings.venue).stream_specs(settings)]
    try:
        out = open_sink(args.jsonl, append=False) if args.jsonl else sys.stdout.buffer
    except JournalError as exc:
        print(f"tickstorm feed: {exc}", file=sys.stderr)
        return 2
    try:
        result = run_static(list(args.static), out, streams=streams, venue=venue)
    except (ValueError, registry.UnknownVenue) as exc:
        print(f"tickstorm feed: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.jsonl:
            out.close()
    summary = {
        "event": "static_done",
        "frames": result.frames,
        "events": result.events,
        "by_type": result.by_type,
    }
    print(orjson.dumps(summary).decode(), file=sys.stderr)
    return 0


def run_dlq(args: argparse.Namespace) -> int:
    """Entry point of ``tickstorm dlq``."""
    from feed.config import default_dlq_path
    from feed.dlq import DeadLetterQueue, DLQError

    if args.dlq is None:
        args.dlq = default_dlq_path()
    if not args.dlq.is_file():
        print(f"tickstorm dlq: no dead letter queue at {args.dlq}", file=sys.stderr)
        return 2
    try:
        with DeadLetterQueue(args.dlq) as dlq:
            return _dlq_action(args, dlq)
    except DLQError as exc:
        print(f"tickstorm dlq: {exc}", file=sys.stderr)
        return 2


def _dlq_action(args: argparse.Namespace, dlq: DeadLetterQueue) -> int:
    if args.dlq_command == "show":
        entry = dlq.get(args.id)
        if entry is None:
            print(f"tickstorm dlq: no entry {args.id}", file=sys.stderr)
            return 1
        print(orjson.dumps(_entry_json(entry), option=orjson.OPT_INDENT_2).decode())
        return 0
    for entry in dlq.entries(stream=args.stream, limit=args.limit):
        if args.dlq_command == "list":
            print(f"{entry.id}\t{entry.stream or '-'}\t{entry.reason[:100]}\t{len(entry.raw)} bytes")
        else:
            sys.stdout.buffer.write(orjson.dumps(_entry_json(entry)) + b"\n")
    return 0


def _entry_json(entry: Any) -> dict[str, Any]:
    raw: bytes = entry.raw
    try:
        text: str | None = raw.decode()
    except UnicodeDecodeError:
        text = None
    return {
        "id": entry.id,
        "received_unix_ns": entry.received_unix_ns,
        "venue": entry.venue,
        "stream": entry.stream,
        "reason": entry.reason,
        "raw": text if text is not None else raw.hex(),
        "raw_encoding": "utf-8" if text is not None else "hex",
    }
