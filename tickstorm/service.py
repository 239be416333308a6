"""Run one long-lived component (venue, proxy, feed) as a process: ready line on stdout, clean stop.

Every tickstorm component is an async context manager. :func:`run_service` enters it on the fastest
available event loop (uvloop when installed), prints one JSON "ready" line on stdout for the orchestrator
to read, then waits for SIGINT or SIGTERM and leaves the context, so the component closes its sockets and
tasks before the process exits. A service started by a tickstorm parent (``TICKSTORM_PARENT_PID``) also
stops when that parent dies (:mod:`tickstorm.lifeline`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import orjson

from tickstorm import lifeline

T = TypeVar("T")
PARENT_POLL_S = 0.5


def run_async(main: Any, *, use_uvloop: bool = True) -> Any:
    """Run a coroutine on uvloop when available (and wanted), else on the default asyncio loop."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(main)
    return asyncio.run(main)


async def serve_until_signalled(
    component: AbstractAsyncContextManager[T],
    ready: Callable[[T], dict[str, Any]],
    *,
    on_stop: Callable[[T], None] | None = None,
    wait_ready: Callable[[T], Awaitable[None]] | None = None,
) -> None:
    """Enter ``component``, wait until it is ready (``wait_ready``, if given; a signal meanwhile leaves it
    without a ready line), print its ready line, wait for SIGINT/SIGTERM (or the death of the tickstorm
    process that started it), then leave it cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(_stop_when_parent_dies(stop)) if lifeline.watch_parent() else None
    try:
        await _serve(component, ready, stop, on_stop, wait_ready)
    finally:
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)


async def _stop_when_parent_dies(stop: asyncio.Event) -> None:
    while not lifeline.parent_gone():
        await asyncio.sleep(PARENT_POLL_S)
    stop.set()


async def _serve(
    component: AbstractAsyncContextManager[T],
    ready: Callable[[T], dict[str, Any]],
    stop: asyncio.Event,
    on_stop: Callable[[T], None] | None,
    wait_ready: Callable[[T], Awaitable[None]] | None,
) -> None:
    async with component as running:
        if wait_ready is not None:
            readiness = asyncio.ensure_future(wait_ready(running))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({readiness, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for task in (readiness, stopping):
                task.cancel()
            await asyncio.gather(readiness, stopping, return_exceptions=True)
            if stop.is_set():
                if on_stop is not None:
                    on_stop(running)
                return
        # Everything built at start-up (recording metadata, books, exchangeInfo, ...) leaves the cyclic
        # GC's view, so full collections during the run are shorter (fewer objects to walk).
        gc.collect()
        gc.freeze()
        sys.stdout.buffer.write(orjson.dumps(ready(running)) + b"\n")
        sys.stdout.flush()
        await stop.wait()
        if on_stop is not None:
            on_stop(running)


def run_service(
    component: AbstractAsyncContextManager[T],
    ready: Callable[[T], dict[str, Any]],
    *,
    use_uvloop: bool = True,
    on_stop: Callable[[T], None] | None = None,
    wait_ready: Callable[[T], Awaitable[None]] | None = None,
) -> int:
    """Process entry point for a component; returns the exit code."""
    run_async(
        serve_until_signalled(component, ready, on_stop=on_stop, wait_ready=wait_ready), use_uvloop=use_uvloop
    )
    return 0
