"""The `tickstorm` command: one entry point, one subcommand per job.

Each subcommand lives in the package that owns the job and exposes ``register(subparsers)``, which adds
its parser and sets ``func`` (called with the parsed namespace, returns the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# (module, doc) — the module's register() adds the subcommand; kept in the order `--help` lists them.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "mock_venues.cli",
    "harness.proxy.cli",
    "feed.cli",
    "harness.venue_check",
    "harness.runner",
    "harness.observe",
    "harness.load.cli",
    "reports.cli",
)


COMMAND_MODULE: dict[str, str] = {
    "venue": "mock_venues.cli",
    "proxy": "harness.proxy.cli",
    "feed": "feed.cli",
    "dlq": "feed.cli",
    "venue-check": "harness.venue_check",
    "run": "harness.runner",
    "observe": "harness.observe",
    "load": "harness.load.cli",
    "load-baseline": "harness.load.cli",
    "report": "reports.cli",
    "baseline": "reports.cli",
}
"""Which module registers each command, so starting one component imports only its own module (the
harness starts venue, proxy and feed processes for every scenario: each saved import is saved many times)."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand (or only the module of ``only``)."""
    parser = argparse.ArgumentParser(
        prog="tickstorm",
        description="Chaos and load testing harness for realtime market-data feeds.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    modules = [COMMAND_MODULE[only]] if only in COMMAND_MODULE else SUBCOMMAND_MODULES
    for module_name in modules:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the chosen subcommand; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
