"""Prometheus byte counters per proxy and direction, printed like toxiproxy-server's ``/metrics``.

As in the real server, a link adds its bytes when it ends (``received`` when its source closes, ``sent``
when its output ends without a write error), so open connections are not counted yet.
"""

from __future__ import annotations

Labels = tuple[str, str, str, str]  # direction, listener, proxy, upstream

_HANDLER_ERRORS = (
    "# HELP promhttp_metric_handler_errors_total Total number of internal errors encountered by the "
    "promhttp metric handler.\n"
    "# TYPE promhttp_metric_handler_errors_total counter\n"
    'promhttp_metric_handler_errors_total{cause="encoding"} 0\n'
    'promhttp_metric_handler_errors_total{cause="gathering"} 0\n'
)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(count: int) -> str:
    """A counter value as Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` prints it (``1e+06`` style)."""
    if count < 1_000_000:
        return str(count)
    exponent = int(f"{float(count):e}".split("e")[1])
    digits = repr(float(count)).split("e")[0].replace(".", "").lstrip("0").rstrip("0") or "0"
    return f"{digits[0]}{'.' + digits[1:] if len(digits) > 1 else ''}e+{exponent:02d}"


class ProxyMetrics:
    """The two counter families, keyed by their label values."""

    def __init__(self) -> None:
        self.received: dict[Labels, int] = {}
        self.sent: dict[Labels, int] = {}

    def add_received(self, labels: Labels, count: int) -> None:
        """Bytes a link read from its source (added when the source ends)."""
        self.received[labels] = self.received.get(labels, 0) + count

    def add_sent(self, labels: Labels, count: int) -> None:
        """Bytes a link wrote (added when its output ends)."""
        self.sent[labels] = self.sent.get(labels, 0) + count

    def render(self) -> str:
        """The exposition text."""
        parts = [_HANDLER_ERRORS]
        for name, series in (
            ("toxiproxy_proxy_received_bytes_total", self.received),
            ("toxiproxy_proxy_sent_bytes_total", self.sent),
        ):
            if not series:
                continue
            parts.append(f"# HELP {name} \n# TYPE {name} counter\n")
            for labels in sorted(series):
                direction, listener, proxy, upstream = (_escape(v) for v in labels)
                parts.append(
                    f'{name}{{direction="{direction}",listener="{listener}",proxy="{proxy}",'
                    f'upstream="{upstream}"}} {format_value(series[labels])}\n'
                )
        return "".join(parts)
