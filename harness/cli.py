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


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="tickstorm",
        description="Chaos and load testing harness for realtime market-data feeds.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the chosen subcommand; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
