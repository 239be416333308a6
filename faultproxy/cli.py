"""`tickstorm proxy`: run the embedded Toxiproxy-compatible server as a process.

Prints one JSON line ``{"event":"ready","api":"http://127.0.0.1:<port>"}`` when the API is listening
(``--port 0`` picks a free port), serves until SIGINT/SIGTERM, then stops every proxy and exits 0.
A bad ``--config`` file is reported on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from faultproxy.server import ConfigError, EmbeddedToxiproxy, load_config
from tickstorm.ports import port_arg
from tickstorm.service import run_service


def register(subparsers: Any) -> None:
    """Add the `proxy` subcommand."""
    parser = subparsers.add_parser(
        "proxy",
        help="run the embedded Toxiproxy-compatible fault proxy",
        description=(
            "Run tickstorm's embedded Toxiproxy-compatible server (HTTP API of toxiproxy-server 2.12.0). "
            'Prints {"event":"ready","api":URL} on stdout when ready; stops on SIGINT/SIGTERM.'
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address the HTTP API binds to (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=port_arg, default=8474, help="API port (default 8474; 0 = a free port)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="JSON array of proxies to create at start (/populate format)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed for toxicity draws, jitter and slicer cuts (reproducible)",
    )
    parser.add_argument(
        "--allow-remote-upstream",
        action="store_true",
        help="allow proxies whose upstream is not a loopback address (refused by default)",
    )
    parser.add_argument(
        "--no-proxy-metrics",
        action="store_true",
        help="do not serve /metrics (as toxiproxy-server by default)",
    )
    parser.add_argument("--no-uvloop", action="store_true", help="use the default asyncio event loop")
    parser.set_defaults(func=run_proxy)


def run_proxy(args: argparse.Namespace) -> int:
    """Entry point of `tickstorm proxy`."""
    if args.config is not None:
        try:
            load_config(args.config)
        except ConfigError as exc:
            print(f"tickstorm proxy: {exc}", file=sys.stderr)
            return 2
    server = EmbeddedToxiproxy(
        host=args.host,
        port=args.port,
        seed=args.seed,
        allow_remote_upstream=args.allow_remote_upstream,
        proxy_metrics=not args.no_proxy_metrics,
        config=args.config,
    )
    try:
        return run_service(server, lambda s: s.ready_line(), use_uvloop=not args.no_uvloop)
    except ConfigError as exc:
        print(f"tickstorm proxy: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"tickstorm proxy: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2


def main(argv: list[str] | None = None) -> int:
    """`python -m faultproxy.cli ...`: the same command without the rest of the tickstorm CLI."""
    parser = argparse.ArgumentParser(prog="tickstorm")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["proxy", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
