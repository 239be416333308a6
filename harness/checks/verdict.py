"""The result of one check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Verdict:
    """``ok`` or not, a one-line summary, and concrete evidence (ids, times, levels)."""

    check: str
    ok: bool
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for reports."""
        return {"check": self.check, "ok": self.ok, "summary": self.summary, "evidence": self.evidence}
