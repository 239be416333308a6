"""`tickstorm venue VENUE ...`: run a mock venue as a process (prints a JSON ready line, stops on signal)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

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


def register(subparsers: Any) -> None:
    """Add the `venue` subcommand."""
    parser = subparsers.add_parser(
        "venue",
        help="run a mock venue server (replays recordings)",
        description="Run a mock venue that replays recorded messages over the venue's own wire protocol.",
    )
    venues = parser.add_subparsers(dest="venue", metavar="VENUE")
    venues.required = True
    spot = venues.add_parser(
        "binance-spot",
        help="mock Binance spot: WebSocket streams, REST, control API",
        description=(
            "Mock Binance spot venue. Prints one JSON line "
            '{"event":"ready","venue":"binance-spot","ws":...,"rest":...,"control":...} when ready; '
            "stops cleanly on SIGINT/SIGTERM."
        ),
    )
    spot.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    spot.add_argument("--port", type=int, default=0, help="WebSocket port (0 = a free port)")
    spot.add_argument("--rest-port", type=int, default=0, help="REST port (0 = a free port)")
    spot.add_argument("--control-port", type=int, default=0, help="control API port (0 = a free port)")
    spot.add_argument(
        "--recording",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="normalized recording (*.norm.jsonl[.gz]); repeat to merge several into one timeline",
    )
    spot.add_argument(
        "--bundled",
        metavar="NAME",
        help="use a recording set shipped with tickstorm (default when no --recording: spot-btcusdt)",
    )
    spot.add_argument("--speed", type=parse_speed, default=1.0, help=SPEED_HELP)
    spot.add_argument(
        "--fanout", type=_positive_int, default=1, help="clone each recorded symbol into N symbols"
    )
    spot.add_argument("--amplify", type=float, default=1.0, help="divide gaps inside bursts by this factor")
    spot.add_argument("--loop", action="store_true", help="replay forever, ids increasing across loops")
    spot.add_argument("--paused", action="store_true", help="wait for POST /replay/start before replaying")
    spot.add_argument("--seed", type=int, default=None, help="seed for probabilistic venue faults")
    spot.add_argument(
        "--max-connection-age",
        type=float,
        default=24 * 3600.0,
        help="seconds before the venue closes a connection",
    )
    spot.add_argument("--ping-interval", type=float, default=20.0, help="server ping interval in seconds")
    spot.add_argument(
        "--pong-timeout", type=float, default=60.0, help="close when no pong within this many seconds"
    )
    spot.add_argument("--history-out", type=Path, help="write the venue history (JSON) here on exit")
    spot.add_argument("--no-uvloop", action="store_true", help="use the default asyncio event loop")
    spot.set_defaults(func=run_binance_spot)


def run_binance_spot(args: argparse.Namespace) -> int:
    """Entry point of `tickstorm venue binance-spot`."""
    from mock_venues.binance_spot.server import BinanceSpotVenue, VenueConfig
    from mock_venues.recordings import BUNDLED, bundled

    recordings: list[Path] = list(args.recording)
    if args.bundled or not recordings:
        name = args.bundled or "spot-btcusdt"
        if name not in BUNDLED:
            print(
                f"tickstorm venue: unknown bundled set {name!r}; known: {', '.join(BUNDLED)}", file=sys.stderr
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

    def dump_history(venue: BinanceSpotVenue) -> None:
        if args.history_out:
            venue.history.dump(args.history_out)

    return run_service(
        BinanceSpotVenue(config),
        lambda venue: venue.ready_line(),
        use_uvloop=not args.no_uvloop,
        on_stop=dump_history,
    )
