"""Run benchmarks: `python -m benchmarks [NAME ...] [--quick]`.

Every module `benchmarks/bench_<name>.py` exposes ``run(quick: bool) -> dict`` returning its measured
figures. The runner prints them and writes `reports/baselines/bench-<name>.json` together with the
machine facts, so published numbers always say where they were measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import pkgutil
import sys
from pathlib import Path

from tickstorm.machine import machine_facts

BASELINE_DIR = Path(__file__).resolve().parent.parent / "reports" / "baselines"


def available() -> list[str]:
    """Names of the benchmark modules (without the `bench_` prefix)."""
    here = Path(__file__).resolve().parent
    return sorted(m.name[6:] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {available()})")
    parser.add_argument("--quick", action="store_true", help="shorter runs (smoke-testing the benchmarks)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write reports/baselines")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}")
    facts = machine_facts()
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"== benchmark {name}", flush=True)
        figures = module.run(quick=args.quick)
        record = {
            "benchmark": name,
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "quick": args.quick,
            "machine": facts,
            "figures": figures,
        }
        print(json.dumps(figures, indent=2), flush=True)
        if not args.no_write:
            BASELINE_DIR.mkdir(parents=True, exist_ok=True)
            out = BASELINE_DIR / f"bench-{name}.json"
            out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            print(f"written {out.relative_to(BASELINE_DIR.parent.parent)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
