"""Child processes die with the process that started them, even when that one is SIGKILLed.

A parent that stops normally (exit, exception, SIGINT, SIGTERM) stops its children itself
(:class:`tickstorm.procs.ServiceProcess`). For a parent that cannot (SIGKILL, a crash of the interpreter)
two mechanisms remain:

- Linux: :func:`die_with_parent` is a ``preexec_fn`` that asks the kernel to SIGKILL the child when its
  parent dies (``prctl(PR_SET_PDEATHSIG)``, through ctypes) and kills the child at once when the parent
  died before that call. SIGKILL also ends a child stopped by SIGSTOP (a process fault), which SIGTERM
  would not.
- Everywhere (the portable fallback): the parent puts its pid in ``TICKSTORM_PARENT_PID``; a tickstorm
  service (:mod:`tickstorm.service`) reads it at start-up (:func:`watch_parent`) and stops cleanly as soon
  as :func:`parent_gone` (it is polled).
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

PARENT_ENV = "TICKSTORM_PARENT_PID"
PR_SET_PDEATHSIG = 1  # linux/prctl.h

_watched: tuple[int, int] | None = None  # (the parent named in the environment, the direct parent)


@functools.cache
def _prctl() -> Any | None:
    """libc's ``prctl`` with its argument types, or None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` binding the child's life to this process (None where prctl is not available).

    Also None off the main thread: the kernel signals the child when the *thread* that forked it ends, so a
    child started from a worker thread (``asyncio.to_thread``) would be killed with that thread.
    """
    prctl = _prctl()
    if prctl is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def bind() -> None:  # runs in the forked child, before exec: no imports, no allocation worth naming
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os.kill(os.getpid(), signal.SIGKILL)

    return bind


def child_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with this process named as the child's parent."""
    return {**(os.environ if env is None else env), PARENT_ENV: str(os.getpid())}


def watch_parent() -> bool:
    """Start watching the parent named in ``TICKSTORM_PARENT_PID`` (removed from the environment so this
    process's own children do not inherit it); False when no parent asked to be watched."""
    global _watched
    value = os.environ.pop(PARENT_ENV, "")
    if not value.isdigit():
        return False
    _watched = (int(value), os.getppid())
    return True


def parent_gone() -> bool:
    """The watched parent died: it no longer exists, or this process was handed to another parent (init
    or a subreaper). A wrapper between the two (a shell) counts as the parent too."""
    if _watched is None:
        return False
    named, direct = _watched
    if os.getppid() != direct:
        return True
    try:
        os.kill(named, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists (another user's)
        return False
    return False
