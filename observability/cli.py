"""``tickstorm observe``: a real Prometheus with the feed's alert rules, scraping a running feed.

``tickstorm observe --target 127.0.0.1:9464`` starts the ``prometheus`` binary (Debian package
``prometheus``) on loopback with a config built for that target and the alert rules generated from the SLA
config, prints where it listens, reports whether the first scrape worked, and runs until Ctrl-C (or
SIGTERM), when it stops Prometheus and removes its temporary data. docs/observability.md has the details.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

DEFAULT_LISTEN = "127.0.0.1:9090"
DEFAULT_INTERVAL = "5s"
RULES_FILE = "alerts.yml"
FIRST_SCRAPE_SLACK_S = 20.0  # beyond the scrape interval: discovery's 5 s tick plus a loaded machine


def register(subparsers: Any) -> None:
    """Add the ``observe`` subcommand."""
    parser = subparsers.add_parser(
        "observe",
        help="run Prometheus with the feed's alert rules against a running feed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``tickstorm observe``."""
    parser.add_argument(
        "--target",
        action="append",
        required=True,
        metavar="HOST:PORT",
        help="a feed's metrics endpoint (tickstorm feed --metrics-port PORT); repeatable; loopback only",
    )
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help="where Prometheus listens (port 0: any free port; default %(default)s)",
    )
    parser.add_argument("--sla", type=Path, default=None, help="SLA file the alert thresholds come from")
    parser.add_argument(
        "--scrape-interval",
        default=DEFAULT_INTERVAL,
        help="scrape and rule evaluation interval, a Prometheus duration (default %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep Prometheus's config and TSDB here (default: temporary)",
    )
    parser.add_argument("--prometheus", default=None, help="the prometheus binary (default: from PATH)")


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the command like Ctrl-C does (Prometheus is stopped cleanly either way)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    """Start Prometheus, print where it is, wait for Ctrl-C; returns the exit code."""
    from harness.sla import SLAConfigError, load_sla
    from observability.promconfig import prometheus_config
    from observability.promql import parse_duration
    from observability.render import to_yaml
    from observability.rules import RuleConfigError, RuleSettings, rules_document
    from observability.server import PrometheusError, PrometheusServer, require_loopback

    try:
        for target in args.target:
            require_loopback(target, "target")
        require_loopback(args.listen, "listen address")
        interval_s = parse_duration(args.scrape_interval)
        settings = RuleSettings.from_sla(load_sla(args.sla))
    except (ValueError, SLAConfigError, RuleConfigError) as exc:
        print(f"tickstorm observe: {exc}", file=sys.stderr)
        return 2
    source = str(args.sla or "harness/sla.toml")
    rules = to_yaml(rules_document(settings), source)
    config = prometheus_config(
        args.target,
        rule_files=[RULES_FILE],
        scrape_interval=args.scrape_interval,
        evaluation_interval=args.scrape_interval,
    )
    with _sigterm_as_interrupt(), tempfile.TemporaryDirectory(prefix="tickstorm-observe-") as tmp:
        workdir = args.data_dir or Path(tmp)
        server = PrometheusServer(
            workdir, config, {RULES_FILE: rules}, listen=args.listen, binary=args.prometheus
        )
        try:
            try:
                server.start()
            except PrometheusError as exc:
                print(f"tickstorm observe: {exc}", file=sys.stderr)
                return 1
            _announce(server, args.target, args.scrape_interval, source)
            _report_first_scrape(server, interval_s)
            process = server.process
            assert process is not None
            while process.poll() is None:
                time.sleep(0.2)
            print(f"prometheus exited with {process.returncode}:\n{server.log_tail()}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("stopping prometheus", flush=True)
            return 0
        finally:
            server.stop()


def _announce(server: Any, targets: Sequence[str], interval: str, source: str) -> None:
    print(f"prometheus listening on {server.url} (alerts: {server.url}/alerts, API: {server.url}/api/v1)")
    for target in targets:
        print(f"scraping http://{target}/metrics every {interval}")
    print(f"alert rules from {source}; data in {server.workdir}")
    print("Ctrl-C stops it.", flush=True)


def _report_first_scrape(server: Any, interval_s: float) -> None:
    """Wait for each target's first scrape and say whether it worked.

    Prometheus hands new targets to its scrapers at most every 5 s (its discovery manager's update
    tick), then starts each scrape loop at a random offset within the interval: a first scrape can
    take interval + 5 s on an idle machine, and a loaded one needs slack beyond that.
    """
    deadline = time.monotonic() + interval_s + FIRST_SCRAPE_SLACK_S
    while time.monotonic() < deadline:
        try:
            targets = server.targets()
        except (OSError, RuntimeError):  # PrometheusError is a RuntimeError
            targets = []
        if targets and all(t.get("health") != "unknown" for t in targets):
            for t in targets:
                error = f": {t['lastError']}" if t.get("lastError") else ""
                print(f"target {t['scrapeUrl']} is {t['health']}{error}", flush=True)
            return
        time.sleep(0.2)
    print("no scrape finished yet; see the targets page", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``observe`` on its own: ``python -m observability.cli --target 127.0.0.1:9464``."""
    parser = argparse.ArgumentParser(prog="tickstorm observe", description=__doc__)
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
