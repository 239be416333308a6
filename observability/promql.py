"""Small PromQL helpers: Prometheus durations, and the metric names an expression reads.

:func:`metric_names` is a tokenizer, not a parser: it drops string literals, label matchers, range and
subquery brackets, grouping clauses, numbers, keywords and function names, and returns what is left. The
real Prometheus checks that an expression parses (tests/observability); this only says which metrics it
reads, so a test can compare them with what the feed exports.
"""

from __future__ import annotations

import re

_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_DURATION_RE = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``1m30s`` or ``500ms`` (ValueError when malformed)."""
    pos, total = 0, 0.0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS_S[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return total


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration for ``seconds`` (whole milliseconds): ``90`` → ``1m30s``."""
    ms = round(seconds * 1000)
    if ms < 0:
        raise ValueError(f"negative duration: {seconds}")
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


FUNCTIONS_AND_KEYWORDS = frozenset(
    {
        # aggregation operators and keywords
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
        "quantile", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
        "bool", "offset", "atan2", "inf", "nan",
    }
)  # fmt: skip
"""Words that are never metric names (functions are recognised by the ``(`` after them)."""

_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS_RE = re.compile(r"\{[^}]*\}")
_BRACKETS_RE = re.compile(r"\[[^\]]*\]")
_GROUPING_RE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NUMBER_RE = re.compile(r"(?<![\w:])(0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
_OFFSET_RE = re.compile(r"\boffset\s+-?\w+")
_IDENT_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*(\(?))")


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects (``__name__`` matchers included)."""
    names = set(re.findall(r'__name__\s*=\s*"([^"]+)"', expr))
    text = _STRING_RE.sub('""', expr)
    text = _MATCHERS_RE.sub(" ", text)
    text = _BRACKETS_RE.sub(" ", text)
    text = _GROUPING_RE.sub(" ", text)
    text = _OFFSET_RE.sub(" ", text)
    text = _NUMBER_RE.sub(" ", text)
    for match in _IDENT_RE.finditer(text):
        word, call = match.group(0), match.group(1)
        if call or word.lower() in FUNCTIONS_AND_KEYWORDS:
            continue
        names.add(word)
    return names


GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$instance": ".+",
    "$venue": ".+",
    "$job": "tickstorm-feed",
}
"""Values that turn a dashboard query into plain PromQL (for checking it against a real Prometheus)."""


def without_grafana_variables(expr: str) -> str:
    """``expr`` with Grafana's variables replaced by representative values."""
    for variable in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(variable, GRAFANA_VARIABLES[variable])
    return expr
