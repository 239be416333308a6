"""Run one long-lived component (venue, proxy, feed) as a process: ready line on stdout, clean stop.

Every tickstorm component is an async context manager. :func:`run_service` enters it on the fastest
available event loop (uvloop when installed), prints one JSON "ready" line on stdout for the orchestrator
to read, then waits for SIGINT or SIGTERM and leaves the context, so the component closes its sockets and
tasks before the process exits.
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

T = TypeVar("T")


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
    without a ready line), print its ready line, wait for SIGINT/SIGTERM, then leave it cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with component as running:
        # Everything built at start-up (recording metadata, books, exchangeInfo, ...) leaves the cyclic
        # GC's view, so full collections during the run are shorter (fewer objects to walk).
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
