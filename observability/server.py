"""Run the real Prometheus server (and promtool) on loopback: for the tests and ``tickstorm observe``.

``PrometheusServer(workdir, config)`` writes the config (and rule files) into ``workdir``, starts the
``prometheus`` binary listening on 127.0.0.1 with its TSDB in ``workdir``, and waits until it is ready;
``stop()`` (or leaving the ``with`` block) terminates it and waits for it to exit. Only loopback
addresses are accepted, for the listener and for every scrape target.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from observability.render import to_yaml
from tickstorm.lifeline import die_with_parent
from tickstorm.ports import check_port

PROMETHEUS_ENV = "TICKSTORM_PROMETHEUS"
PROMTOOL_ENV = "TICKSTORM_PROMTOOL"
DEBIAN_PACKAGE = "prometheus"
START_TIMEOUT_S = 30.0


class PrometheusError(RuntimeError):
    """Prometheus could not be started, or answered an API call with an error."""


def find_binary(name: str, env: str) -> str | None:
    """The binary from ``$env``, else ``name`` on PATH, else ``/usr/bin/name``; None when absent."""
    explicit = os.environ.get(env)
    if explicit:
        return explicit if Path(explicit).is_file() else None
    found = shutil.which(name)
    if found:
        return found
    fallback = Path("/usr/bin") / name
    return str(fallback) if fallback.is_file() else None


def prometheus_binary() -> str | None:
    """The ``prometheus`` server binary (Debian package ``prometheus``), or None."""
    return find_binary("prometheus", PROMETHEUS_ENV)


def promtool_binary() -> str | None:
    """``promtool`` (Debian package ``prometheus``), or None."""
    return find_binary("promtool", PROMTOOL_ENV)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_hostport(text: str) -> tuple[str, int]:
    """``("127.0.0.1", 9464)`` from ``127.0.0.1:9464`` (ValueError when malformed)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), check_port(int(port), f"the port of {text!r}")


def require_loopback(text: str, what: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` and refuse anything but a loopback host."""
    host, port = split_hostport(text)
    if not is_loopback(host):
        raise ValueError(f"{what} {text!r} is not a loopback address: tickstorm only talks to loopback")
    return host, port


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (Prometheus cannot report the port it bound to)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class PrometheusServer:
    """A Prometheus process on loopback with a config written into ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        config: Mapping[str, Any],
        rule_texts: Mapping[str, str] | None = None,
        *,
        listen: str = "127.0.0.1:0",
        binary: str | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.config = config
        self.rule_texts = dict(rule_texts or {})
        host, port = require_loopback(listen, "listen address")
        self.host = host
        self.requested_port = port
        self.port = 0
        self.binary = binary or prometheus_binary()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        for job in config.get("scrape_configs", []):
            for static in job.get("static_configs", []):
                for target in static.get("targets", []):
                    require_loopback(target, "scrape target")

    @property
    def url(self) -> str:
        """Base URL of the HTTP API and UI."""
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        """Prometheus's own log (stdout and stderr)."""
        return self.workdir / "prometheus.log"

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Write the files, start the process, wait for /-/ready (PrometheusError on failure)."""
        if self.binary is None:
            raise PrometheusError(
                f"no prometheus binary: install the Debian package ({DEBIAN_PACKAGE}) or set {PROMETHEUS_ENV}"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name, text in self.rule_texts.items():
            (self.workdir / name).write_text(text, encoding="utf-8")
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(to_yaml(dict(self.config), "observability/server.py"), encoding="utf-8")
        for attempt in range(3):  # a free port can be taken by someone else before Prometheus binds it
            try:
                self._start_once(config_path, timeout_s)
                return
            except PrometheusError:
                if self.requested_port or attempt == 2 or "address already in use" not in self.log_tail():
                    raise

    def _start_once(self, config_path: Path, timeout_s: float) -> None:
        assert self.binary is not None  # checked by start()
        self.port = self.requested_port or free_port(self.host)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address={self.host}:{self.port}",
                "--storage.tsdb.retention.time=1d",
                "--log.level=info",
            ],
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent(),  # a SIGKILLed `tickstorm observe` leaves no Prometheus (Linux)
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise PrometheusError(
                    f"prometheus exited with {self.process.returncode} during start-up:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                if r.status == 200:
                    return
            time.sleep(0.1)
        raise PrometheusError(f"prometheus not ready within {timeout_s} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of Prometheus's log (for error messages)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the process (kill it after ``timeout_s``) and close the log; idempotent."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- HTTP API --------------------------------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>``; the ``data`` of a success, PrometheusError with the error otherwise."""
        query = urllib.parse.urlencode(params)
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read())
            except ValueError:
                raise PrometheusError(f"{path}: HTTP {exc.code}") from None
        if body.get("status") != "success":
            raise PrometheusError(f"{body.get('errorType', '?')}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (PrometheusError when the expression is rejected)."""
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] == "vector" else [data]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending and firing) as ``/api/v1/alerts`` lists them."""
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets with their health."""
        targets: list[dict[str, Any]] = self.api("targets")["activeTargets"]
        return targets


def promtool(
    *args: str, cwd: Path | None = None, timeout_s: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run promtool with ``args`` (PrometheusError when it is not installed)."""
    binary = promtool_binary()
    if binary is None:
        raise PrometheusError(
            f"no promtool: install the Debian package ({DEBIAN_PACKAGE}) or set {PROMTOOL_ENV}"
        )
    return subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
    )
