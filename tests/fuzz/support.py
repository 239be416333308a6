"""Shared pieces of the fuzz suite: the example budget, input counting, and input strategies.

The budget comes from ``TICKSTORM_FUZZ_EXAMPLES`` (examples per test; ``nox -s tests`` leaves it unset and
gets a small, derandomized share; ``nox -s fuzz`` sets 100000). Every test calls :func:`tried` once per
input it hands to a decoder, so the figures in docs/fuzzing.md are counted, not assumed; the fuzz conftest
writes them to ``runs/fuzz/summary.json`` at the end of the session.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from mock_venues.recordings import HERE as RECORDINGS_DIR

DEFAULT_EXAMPLES = 300
"""Examples per fuzz test in the ordinary test run (a small share of the nightly budget)."""

EXAMPLES = int(os.environ.get("TICKSTORM_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
NIGHTLY = "TICKSTORM_FUZZ_EXAMPLES" in os.environ

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # The ordinary run is reproducible; the nightly run explores new inputs every night.
    derandomize=not NIGHTLY,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
"""Settings of every fuzz test."""

COUNTS: Counter[str] = Counter()
"""Inputs handed to each decoder in this process."""

SECONDS: Counter[str] = Counter()
"""Wall time spent in each decoder's fuzz tests in this process."""


def tried(decoder: str) -> None:
    """Count one input handed to ``decoder``."""
    COUNTS[decoder] += 1


def timed_add(decoder: str, started: float) -> None:
    """Add the time since ``started`` (``time.monotonic()``) to ``decoder``'s total."""
    SECONDS[decoder] += time.monotonic() - started


# -- JSON values ------------------------------------------------------------------------------------

HUGE_INTS = st.sampled_from([2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**40, -(10**300)])
FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e308, -1e308, 5e-324, -0.0])
TEXT = st.text(max_size=40) | st.sampled_from(
    ["", "\x00", "\ud7ff\ue000", "\ud800", "é", "💥", "a" * 300, "1.0", "-1"]
)
SCALARS = st.none() | st.booleans() | st.integers() | HUGE_INTS | FLOATS | TEXT
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(TEXT, inner, max_size=6),
    max_leaves=25,
)
"""Any JSON value, including ones strict JSON forbids (NaN, Infinity) and integers past 64 bits."""


def to_json(value: Any) -> bytes:
    """``value`` as JSON text; NaN/Infinity become the (invalid) bare literals, unicode may be escaped."""
    return json.dumps(value, allow_nan=True).encode()


def deep_nesting(depth: int, kind: str) -> bytes:
    """A JSON document nested ``depth`` levels (arrays or objects)."""
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


DEEP = st.builds(deep_nesting, st.integers(1, 20_000), st.sampled_from(["array", "object"]))
"""Documents nested past every parser's recursion limit."""


def mutate(doc: bytes, op: str, where: int, payload: bytes) -> bytes:
    """One byte-level mutation of a valid document: cut it, flip, insert or delete at ``where``."""
    if not doc:
        return payload
    at = where % (len(doc) + 1)
    if op == "truncate":
        return doc[:at]
    if op == "flip":
        i = where % len(doc)
        return doc[:i] + bytes([doc[i] ^ (payload[0] if payload else 0x20)]) + doc[i + 1 :]
    if op == "insert":
        return doc[:at] + payload + doc[at:]
    if op == "delete":
        return doc[:at] + doc[at + len(payload) + 1 :]
    return doc + payload


def mutations(docs: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Byte-level mutations of valid documents drawn from ``docs``."""
    return st.builds(
        mutate,
        docs,
        st.sampled_from(["truncate", "flip", "insert", "delete", "append"]),
        st.integers(0, 1 << 20),
        st.binary(min_size=1, max_size=8),
    )


def replace_field(doc: dict[str, Any], key_index: int, value: Any, drop: bool) -> dict[str, Any]:
    """``doc`` with one of its fields (by position) replaced by ``value`` or dropped, recursing one level
    into a nested ``data``/``k`` object half the time."""
    out = dict(doc)
    target = out
    for nested in ("data", "k"):
        inner = target.get(nested)
        if isinstance(inner, dict) and key_index % 2:
            target[nested] = inner = dict(inner)
            target = inner
    if not target:
        return out
    key = sorted(target)[key_index % len(target)]
    if drop:
        del target[key]
    else:
        target[key] = value
    return out


def field_edits(docs: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    """Valid documents with one field given a wrong value (any JSON, wrong type, huge, NaN) or missing."""
    return st.builds(replace_field, docs, st.integers(0, 1000), JSON_VALUES, st.booleans()).map(to_json)


# -- recorded material ------------------------------------------------------------------------------


@cache
def recorded_ws(limit: int = 3000) -> tuple[tuple[str, dict[str, Any]], ...]:
    """(stream, payload) of the first WebSocket records of the bundled Binance recordings (every kind)."""
    out: list[tuple[str, dict[str, Any]]] = []
    kinds: Counter[str] = Counter()
    for path in sorted(RECORDINGS_DIR.glob("*.norm.jsonl.gz")):
        if path.name.startswith("alpaca_"):  # the Alpaca venue's slices: not Binance messages
            continue
        with gzip.open(path, "rb") as fh:
            for line in fh:
                rec = json.loads(line)
                stream, data = rec.get("stream"), rec.get("data")
                if rec.get("src") != "ws" or not isinstance(stream, str) or not isinstance(data, dict):
                    continue
                kind = stream.partition("@")[2]
                if kinds[kind] >= limit // 4:
                    continue
                kinds[kind] += 1
                out.append((stream, data))
    return tuple(out)


@cache
def recorded_lines(limit: int = 400) -> tuple[bytes, ...]:
    """The first lines of each bundled recording, as stored (records of every source)."""
    out: list[bytes] = []
    for path in sorted(RECORDINGS_DIR.glob("*.norm.jsonl.gz")):
        with gzip.open(path, "rb") as fh:
            for n, line in enumerate(fh):
                if n >= limit:
                    break
                out.append(line)
    return tuple(out)


def write_summary(path: Path) -> None:
    """Write this process's counts to ``path`` (JSON: decoder -> inputs tried, seconds spent)."""
    if not COUNTS:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    decoders = {name: {"inputs": n, "seconds": round(SECONDS[name], 1)} for name, n in sorted(COUNTS.items())}
    summary = {"examples_per_test": EXAMPLES, "decoders": decoders}
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
