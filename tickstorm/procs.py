"""Start a tickstorm component as a child process and wait for its JSON ready line.

``async with ServiceProcess([...]) as proc:`` starts the command, reads stdout until the first line that
is a JSON object with ``"event": "ready"`` (``proc.ready``), and on exit sends SIGTERM, waits, and kills
the process if it does not stop in time, so no process is leaked on success, failure, timeout, Ctrl-C or
SIGTERM. When this process dies without stopping it (SIGKILL), the child dies too (:mod:`tickstorm.lifeline`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import orjson

from tickstorm import lifeline


class ServiceStartError(RuntimeError):
    """The child process exited or stayed silent before printing its ready line."""


class ServiceProcess:
    """A child process running one component (venue, proxy, feed)."""

    def __init__(
        self,
        cmd: Sequence[str],
        *,
        name: str = "service",
        ready_timeout_s: float = 30.0,
        stop_timeout_s: float = 10.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.cmd = list(cmd)
        self.name = name
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        self.ready: dict[str, Any] = {}
        self._stderr_tail: list[str] = []
        self._drain_tasks: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int:
        """The child's process id."""
        assert self.proc is not None
        return self.proc.pid

    async def __aenter__(self) -> ServiceProcess:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Spawn the process and wait for its ready line."""
        self.proc = await asyncio.create_subprocess_exec(
            *self.cmd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=lifeline.child_environment(self.env),
            preexec_fn=lifeline.die_with_parent(),
        )
        assert self.proc.stderr is not None
        self._drain_tasks.append(asyncio.create_task(self._collect_stderr(self.proc.stderr)))
        try:
            self.ready = await asyncio.wait_for(self._read_ready(), self.ready_timeout_s)
        except (TimeoutError, ServiceStartError) as exc:
            await self.stop()
            tail = "\n".join(self._stderr_tail[-20:])
            raise ServiceStartError(f"{self.name} did not become ready: {exc or 'timeout'}\n{tail}") from None
        assert self.proc.stdout is not None
        self._drain_tasks.append(asyncio.create_task(self._discard(self.proc.stdout)))

    async def _read_ready(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                await self.proc.wait()
                raise ServiceStartError(f"exited with code {self.proc.returncode}")
            with contextlib.suppress(orjson.JSONDecodeError):
                doc = orjson.loads(line)
                if isinstance(doc, dict) and doc.get("event") == "ready":
                    return doc

    async def _collect_stderr(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            self._stderr_tail.append(line.decode(errors="replace").rstrip())
            del self._stderr_tail[:-200]

    async def _discard(self, stream: asyncio.StreamReader) -> None:
        async for _ in stream:
            pass

    def signal(self, sig: signal.Signals) -> None:
        """Send a signal (SIGSTOP/SIGCONT/SIGKILL for process faults)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(sig)

    async def stop(self) -> int | None:
        """SIGTERM, wait, SIGKILL if needed; returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for task in self._drain_tasks:
            task.cancel()
        await asyncio.gather(*self._drain_tasks, return_exceptions=True)
        self._drain_tasks.clear()
        return proc.returncode

    @property
    def stderr_tail(self) -> list[str]:
        """The last lines the process wrote on stderr."""
        return list(self._stderr_tail)
