"""Write every generated observability file: ``python -m observability.generate [--check]``.

The files (alert rules, their promtool tests, prometheus.yml for docker compose, the Grafana dashboard
and its provisioning) are committed. ``--check`` writes nothing and exits 1 when a committed file differs
from what the SLA config and the code produce now (a test runs the same comparison).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.sla import DEFAULT_SLA_PATH, SLAConfigError, load_sla
from observability import PACKAGE_DIR
from observability import names as n
from observability.dashboard import dashboard_json
from observability.grafana_provisioning import dashboard_provider_document, datasource_document
from observability.promconfig import prometheus_config
from observability.render import to_json, to_yaml
from observability.rule_tests import unit_tests_document
from observability.rules import RuleConfigError, RuleSettings, rules_document


def rule_files(settings: RuleSettings, source: str) -> dict[str, str]:
    """The alert rules and their promtool tests (relative path → content)."""
    return {
        n.ALERTS_FILE: to_yaml(rules_document(settings), source),
        n.RULE_TESTS_FILE: to_yaml(unit_tests_document(settings), source),
    }


def generated_files(settings: RuleSettings, source: str = "harness/sla.toml") -> dict[str, str]:
    """Every generated file (path relative to ``observability/`` → content)."""
    config = prometheus_config([n.DEFAULT_FEED_TARGET], alertmanagers=[n.ALERTMANAGER_TARGET])
    return {
        **rule_files(settings, source),
        n.PROMETHEUS_CONFIG_FILE: to_yaml(config, "observability/promconfig.py"),
        n.DASHBOARD_FILE: to_json(dashboard_json(settings)),
        n.DATASOURCE_FILE: to_yaml(datasource_document(), "observability/grafana_provisioning.py"),
        n.DASHBOARD_PROVIDER_FILE: to_yaml(
            dashboard_provider_document(), "observability/grafana_provisioning.py"
        ),
    }


def write(files: dict[str, str], out: Path) -> list[Path]:
    """Write ``files`` under ``out``; return the paths written."""
    written = []
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(files: dict[str, str], out: Path) -> list[str]:
    """Relative paths whose file under ``out`` is missing or differs from ``files``."""
    return [
        rel
        for rel, text in files.items()
        if not (out / rel).is_file() or (out / rel).read_text(encoding="utf-8") != text
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Generate (or with ``--check`` verify) the observability files; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m observability.generate", description=__doc__)
    parser.add_argument("--sla", type=Path, default=None, help=f"SLA file (default: {DEFAULT_SLA_PATH})")
    parser.add_argument(
        "--out", type=Path, default=PACKAGE_DIR, help="output directory (default: %(default)s)"
    )
    parser.add_argument(
        "--runbook-url",
        default=n.RUNBOOK_URL,
        help="base of the alerts' runbook_url, e.g. the runbook on your Git host (default: %(default)s)",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    try:
        settings = RuleSettings.from_sla(load_sla(args.sla), runbook_url=args.runbook_url)
    except (SLAConfigError, RuleConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    source = str(args.sla) if args.sla else "harness/sla.toml"
    files = generated_files(settings, source)
    if args.check:
        outdated = stale(files, args.out)
        for rel in outdated:
            print(f"out of date: {args.out / rel}", file=sys.stderr)
        if outdated:
            print("run: python -m observability.generate", file=sys.stderr)
        return 1 if outdated else 0
    for path in write(files, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
