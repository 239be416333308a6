"""`tickstorm venue NAME ...`: run any registered mock venue as a process (prints a JSON ready line with
every URL it serves, stops cleanly on SIGINT/SIGTERM); `tickstorm venue --list` names the venues."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tickstorm.ports import ListenError, port_arg
from tickstorm.service import run_service

SPEED_HELP = "replay speed factor in [0.1, 100], or 'max' for as fast as possible (default 1)"


def parse_speed(text: str) -> float | None:
    """``max`` → None (as fast as possible); otherwise a factor within [0.1, 100]."""
    if text.lower() in {"max", "afap", "inf"}:
        return None
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed must be a number or 'max', got {text!r}") from None
    if not 0.1 <= speed <= 100:
        raise argparse.ArgumentTypeError(f"speed must be within [0.1, 100] (or 'max'), got {speed}")
    return speed


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _add_common_arguments(parser: argparse.ArgumentParser, default_recording: str) -> None:
    """The options every mock venue takes."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port_arg, default=0, help="WebSocket port (0 = a free port)")
    parser.add_argument("--rest-port", type=port_arg, default=0, help="REST port (0 = a free port)")
    parser.add_argument("--control-port", type=port_arg, default=0, help="control API port (0 = a free port)")
    parser.add_argument(
        "--recording",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="normalized recording (*.norm.jsonl[.gz]); repeat to merge several into one timeline",
    )
    parser.add_argument(
        "--bundled",
        metavar="NAME",
        help=f"use a recording set shipped with tickstorm (default when no --recording: {default_recording})",
    )
    parser.add_argument("--speed", type=parse_speed, default=1.0, help=SPEED_HELP)
    parser.add_argument(
        "--fanout", type=_positive_int, default=1, help="clone each recorded symbol into N symbols"
    )
    parser.add_argument("--amplify", type=float, default=1.0, help="divide gaps inside bursts by this factor")
    parser.add_argument("--loop", action="store_true", help="replay forever, ids increasing across loops")
    parser.add_argument("--paused", action="store_true", help="wait for POST /replay/start before replaying")
    parser.add_argument("--seed", type=int, default=None, help="seed for probabilistic venue faults")
    parser.add_argument(
        "--max-connection-age",
        type=float,
        default=24 * 3600.0,
        help="seconds before the venue closes a connection",
    )
    parser.add_argument("--ping-interval", type=float, default=20.0, help="server ping interval in seconds")
    parser.add_argument(
        "--pong-timeout", type=float, default=60.0, help="close when no pong within this many seconds"
    )
    parser.add_argument("--history-out", type=Path, help="write the venue history (JSON) here on exit")
    parser.add_argument("--no-uvloop", action="store_true", help="use the default asyncio event loop")


def register(subparsers: Any) -> None:
    """Add the `venue` subcommand, with one sub-subcommand per registered mock venue."""
    from mock_venues import registry

    parser = subparsers.add_parser(
        "venue",
        help="run a mock venue server (replays recordings); --list names them",
        description=(
            "Run a mock venue that replays recorded messages over the venue's own wire protocol. Prints "
            'one JSON line {"event":"ready","venue":...,"ws":...,"rest":...,"control":...} when ready; '
            "stops cleanly on SIGINT/SIGTERM."
        ),
    )
    parser.add_argument("--list", action="store_true", help="print the registered venues and exit")
    parser.set_defaults(func=run_venue, venue=None)
    venues = parser.add_subparsers(dest="venue", metavar="VENUE")
    for name in registry.names():
        cls = registry.venue_class(name)
        sub = venues.add_parser(name, help=cls.description, description=f"{cls.description}.")
        _add_common_arguments(sub, cls.default_recording)
        sub.set_defaults(func=run_venue)


def run_venue(args: argparse.Namespace) -> int:
    """Entry point of `tickstorm venue NAME` and `tickstorm venue --list`."""
    from mock_venues import registry
    from mock_venues.base.venue import VenueBase, VenueConfig
    from mock_venues.recordings import BUNDLED, BUNDLED_FORMATS, bundled

    if args.list or args.venue is None:
        if not args.list:
            print("tickstorm venue: name a venue (tickstorm venue --list)", file=sys.stderr)
            return 2
        for name in registry.names():
            print(f"{name}\t{registry.venue_class(name).description}")
        return 0
    cls = registry.venue_class(args.venue)
    recordings: list[Path] = list(args.recording)
    if args.bundled or not recordings:
        name = args.bundled or cls.default_recording
        if name not in BUNDLED:
            print(
                f"tickstorm venue: unknown bundled set {name!r}; known: {', '.join(sorted(BUNDLED))}",
                file=sys.stderr,
            )
            return 2
        if BUNDLED_FORMATS[name] not in cls.recording_formats:
            print(
                f"tickstorm venue: bundled set {name!r} is a {BUNDLED_FORMATS[name]} recording; the "
                f"{cls.name} venue reads {', '.join(sorted(cls.recording_formats))}",
                file=sys.stderr,
            )
            return 2
        recordings += bundled(name)
    missing = [str(p) for p in recordings if not p.is_file()]
    if missing:
        print(f"tickstorm venue: recording not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    config = VenueConfig(
        recordings=recordings,
        speed=args.speed,
        fanout=args.fanout,
        amplify=args.amplify,
        loop=args.loop,
        host=args.host,
        ws_port=args.port,
        rest_port=args.rest_port,
        control_port=args.control_port,
        autostart=not args.paused,
        seed=args.seed,
        max_connection_age_s=args.max_connection_age,
        ping_interval_s=args.ping_interval,
        pong_timeout_s=args.pong_timeout,
    )
    from mock_venues.replay.records import RecordingError

    try:
        venue = cls(config)
    except (RecordingError, ValueError) as exc:
        print(f"tickstorm venue: {exc}", file=sys.stderr)
        return 2

    def dump_history(running: VenueBase) -> None:
        if args.history_out:
            running.history.dump(args.history_out)

    try:
        return run_service(
            venue, lambda running: running.ready_line(), use_uvloop=not args.no_uvloop, on_stop=dump_history
        )
    except ListenError as exc:
        print(f"tickstorm venue: {exc}", file=sys.stderr)
        return 2
