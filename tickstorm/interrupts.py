"""SIGTERM stops a command the way Ctrl-C (SIGINT) does.

``tickstorm`` runs every command inside :func:`sigterm_as_interrupt`: a SIGTERM then takes the path of a
SIGINT — inside an event loop the main task is cancelled (so every ``async with`` tears its processes and
folders down), elsewhere ``KeyboardInterrupt`` is raised — and the command exits with :func:`exit_code`
(130 after SIGINT, 143 after SIGTERM). Long-running services (venue, proxy, feed) handle both signals in
their event loop themselves (:mod:`tickstorm.service`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

_received: list[signal.Signals] = []  # the SIGTERMs received inside sigterm_as_interrupt()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM acts as SIGINT (main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _received.append(signal.SIGTERM)
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):  # asyncio's runner (cancels the main task) or Python's default (raises)
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt  # SIGINT ignored (a background job): SIGTERM must still stop the command


def stopped_by() -> str:
    """The signal that stopped the command: ``SIGTERM`` once one arrived, else ``SIGINT``."""
    return "SIGTERM" if _received else "SIGINT"


def exit_code() -> int:
    """128 + the stopping signal's number: 143 after SIGTERM, 130 after Ctrl-C."""
    return 128 + (signal.SIGTERM if _received else signal.SIGINT)
