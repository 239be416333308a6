"""Port numbers, checked once for every way they come in, and binds that fail in one readable line.

A port outside 0..65535 is refused where it enters: :func:`port_arg` for argparse options, :data:`Port` for
pydantic settings fields, :func:`check_port` elsewhere (uvloop would otherwise bind it modulo 65536:
``--port 65537`` bound port 1). :func:`listening` wraps a server's bind, so that a port in use (or any
other failed bind) becomes a :class:`ListenError` naming the server and the address, which the commands
report on one line with exit code 2.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from pydantic import Field

MAX_PORT = 65535
PORT_RANGE = f"0..{MAX_PORT}"

Port = Annotated[int, Field(ge=0, le=MAX_PORT)]
"""A TCP port in a pydantic model (0: any free port)."""


class ListenError(Exception):
    """A server could not listen (port in use, out of range, address not available); the message names
    the server and the address."""


def check_port(port: int, what: str = "port") -> int:
    """``port`` when it is a TCP port number (0..65535), else ValueError naming ``what``."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= MAX_PORT:
        raise ValueError(f"{what} must be within {PORT_RANGE}, got {port!r}")
    return port


def port_arg(text: str) -> int:
    """argparse ``type=`` for a port option (0: any free port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"port must be within {PORT_RANGE} (0: any free port), got {value}")
    return value


def format_address(host: str, port: int) -> str:
    """``host:port`` (an IPv6 host in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@contextmanager
def listening(what: str, host: str, port: int) -> Iterator[None]:
    """Check ``port``, then run the bind in the block; a failed bind raises :class:`ListenError`
    ("cannot listen on 127.0.0.1:8080 (the REST server): address already in use")."""
    try:
        check_port(port, f"the {what}'s port")
    except ValueError as exc:
        raise ListenError(str(exc)) from None
    try:
        yield
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise ListenError(f"cannot listen on {format_address(host, port)} ({what}): {reason}") from exc
