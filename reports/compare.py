"""Baselines: the figures a run publishes, and the comparison of a later run with them.

Shared machines are noisy, so latency is compared as a ratio to a ceiling measured in the same run (a bare
client reading the venue directly, see :mod:`harness.ceiling`) and benchmark throughput as the ratio the
benchmark measured side by side; absolute figures (recovery seconds, memory slope, absolute latency) are
kept for the record with a wider tolerance and marked ``absolute``.
"""

from __future__ import annotations

from typing import Any

BASELINE_FORMAT = "tickstorm.baseline/1"
RATIO = "ratio to ceiling"
ABSOLUTE = "absolute"
TOLERANCE = {RATIO: 0.25, ABSOLUTE: 1.0}  # a regression is worse than baseline by more than this fraction


def _ratio(value: Any, ceiling: Any) -> float | None:
    if not isinstance(value, int | float) or not isinstance(ceiling, int | float) or ceiling <= 0:
        return None
    return round(value / ceiling, 3)


def published_figures(
    report: dict[str, Any], bench: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Name → {value, kind, better} for every figure a baseline records."""
    out: dict[str, dict[str, Any]] = {}

    def add(name: str, value: Any, kind: str, better: str = "lower") -> None:
        if isinstance(value, int | float):
            out[name] = {"value": value, "kind": kind, "better": better}

    ceiling = ((report.get("ceiling") or {}).get("latency")) or {}
    for s in report.get("scenarios", []):
        f = s.get("figures") or {}
        name = s["name"]
        add(
            f"{name}: latency p50 / ceiling p50",
            _ratio(f.get("latency_p50_ms"), ceiling.get("p50_ms")),
            RATIO,
        )
        add(
            f"{name}: latency p99 / ceiling p99",
            _ratio(f.get("latency_p99_ms"), ceiling.get("p99_ms")),
            RATIO,
        )
        add(f"{name}: latency p99 ms", f.get("latency_p99_ms"), ABSOLUTE)
        add(f"{name}: recovery s", f.get("recovery_s"), ABSOLUTE)
        add(f"{name}: RSS slope MB/min", f.get("rss_slope_mb_per_min"), ABSOLUTE)
    if bench:
        add(
            "feed benchmark: throughput / picows ceiling",
            bench.get("feed_vs_picows_ceiling"),
            RATIO,
            "higher",
        )
    return out


def compare(
    run: dict[str, dict[str, Any]], baseline: dict[str, Any], *, tolerance: dict[str, float] | None = None
) -> dict[str, Any]:
    """Each figure present in both, with its change and whether it regressed beyond tolerance."""
    tolerance = tolerance or TOLERANCE
    rows = []
    for name, base in baseline.get("figures", {}).items():
        now = run.get(name)
        if now is None:
            continue
        b, r = float(base["value"]), float(now["value"])
        change = (r - b) / b * 100 if b else None
        allowed = tolerance[base["kind"]]
        if base.get("better", "lower") == "lower":
            regressed = r > b * (1 + allowed) if b > 0 else r > b
        else:
            regressed = r < b * (1 - allowed)
        rows.append(
            {
                "figure": name,
                "baseline": b,
                "run": r,
                "ratio_kind": base["kind"],
                "change_pct": None if change is None else round(change, 1),
                "regressed": regressed,
            }
        )
    return {"baseline": baseline.get("name", "?"), "tolerance": tolerance, "rows": rows}
