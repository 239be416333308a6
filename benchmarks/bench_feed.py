"""Feed benchmark: the reference feed against receive-and-parse ceilings, side by side in one run.

The measurement itself is :mod:`harness.throughput` (``tickstorm baseline`` runs it too).
"""

from __future__ import annotations

from typing import Any

from harness import throughput


def run(quick: bool) -> dict[str, Any]:
    """Entry point used by ``python -m benchmarks``."""
    return throughput.run(quick)
