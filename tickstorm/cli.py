"""The `tickstorm` command: one entry point, one subcommand per job, each plugged in by its own package.

A package offers commands through the ``tickstorm.commands`` entry points (pyproject.toml): the entry's
name is the command, its value a ``register(subparsers)`` function that adds the command's parser and sets
``func`` (called with the parsed namespace, returns the exit code). This module names no other package, so
the core stays at the bottom of the import graph, and starting one component imports only the module of
its own command (the harness starts venue, proxy and feed processes for every scenario).

Every command stops on SIGTERM as it does on Ctrl-C (:mod:`tickstorm.interrupts`); one that does not catch
the interruption itself ends with ``tickstorm COMMAND: stopped by SIGTERM`` on stderr and exit code 143
(130 after Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from tickstorm import interrupts

GROUP = "tickstorm.commands"


def commands() -> dict[str, EntryPoint]:
    """Every registered command and the entry point that registers it."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every registered command (or only the one that registers ``only``)."""
    parser = argparse.ArgumentParser(
        prog="tickstorm",
        description="Chaos and load testing harness for realtime market-data feeds.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    available = commands()
    chosen = [available[only]] if only in available else [available[name] for name in sorted(available)]
    done: set[str] = set()
    for entry in chosen:
        if entry.value in done:  # one register() may add several commands (feed and dlq)
            continue
        done.add(entry.value)
        register: Callable[[Any], None] = entry.load()
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the chosen subcommand; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not commands():
        print(
            "tickstorm: no commands are registered: install the package (pip install -e .) so that its "
            f"{GROUP} entry points exist",
            file=sys.stderr,
        )
        return 2
    parser = build_parser(only=argv[0] if argv else None)
    args = parser.parse_args(argv)
    with interrupts.sigterm_as_interrupt():
        try:
            return int(args.func(args) or 0)
        except KeyboardInterrupt:
            print(f"tickstorm {args.command}: stopped by {interrupts.stopped_by()}", file=sys.stderr)
            return interrupts.exit_code()
        except BrokenPipeError:  # the reader went away (`tickstorm dlq list | head`): stop quietly
            return _reader_gone()


def _reader_gone() -> int:
    """Exit status 141 (128 + SIGPIPE, what a shell reports for a Unix tool stopped by a closed pipe), with
    stdout pointed at /dev/null so that Python's flush at exit does not fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
