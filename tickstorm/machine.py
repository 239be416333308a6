"""Facts about the machine and software a measurement was taken on (recorded with every baseline)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any

import psutil

LIBRARIES = (
    "websockets",
    "aiohttp",
    "orjson",
    "msgspec",
    "uvloop",
    "picows",
    "toxiproxy-python",
    "hdrhistogram",
    "prometheus-client",
)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that move the measured numbers."""
    versions: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def machine_facts() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and library versions."""
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "libraries": library_versions(),
    }
