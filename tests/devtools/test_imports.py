"""The package import checker: it finds cycles and upward imports however they are written, and the
checkout itself has none (this is how CI runs ``python -m tickstorm.devtools.imports``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tickstorm.devtools.imports import build_graph, cycles, layer_violations

ROOT = Path(__file__).resolve().parents[2]


def _package(root: Path, name: str, body: str) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    (root / name / "mod.py").write_text(body)


def test_the_checkout_has_no_cycle_and_imports_only_downward() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tickstorm.devtools.imports", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no cycle" in proc.stdout
    assert "harness -> " in proc.stdout  # the graph is printed


def test_function_local_and_literal_dynamic_imports_make_a_cycle(tmp_path: Path) -> None:
    _package(tmp_path, "feed", "def f():\n    import harness.x\n")
    _package(tmp_path, "harness", "import importlib\nimportlib.import_module('feed.y')\n")
    graph = build_graph(tmp_path)
    assert graph.edges[("feed", "harness")] == "feed/mod.py:2"
    assert ("harness", "feed") in graph.edges
    assert cycles(graph) == [["feed", "harness"]]


def test_a_longer_cycle_is_found(tmp_path: Path) -> None:
    _package(tmp_path, "feed", "import harness\n")
    _package(tmp_path, "harness", "import reports\n")
    _package(tmp_path, "reports", "from feed import x\n")
    assert cycles(build_graph(tmp_path)) == [["feed", "harness", "reports"]]


def test_upward_and_same_layer_imports_are_violations(tmp_path: Path) -> None:
    _package(
        tmp_path, "feed", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mock_venues\n"
    )
    _package(tmp_path, "mock_venues", "")
    _package(tmp_path, "tickstorm", "import harness\n")
    _package(tmp_path, "harness", "")
    problems = layer_violations(build_graph(tmp_path))
    assert any(p.startswith("feed -> mock_venues (same layer)") for p in problems), problems
    assert any(p.startswith("tickstorm -> harness (upward)") for p in problems), problems


def test_a_failing_tree_exits_1(tmp_path: Path) -> None:
    _package(tmp_path, "feed", "import harness\n")
    _package(tmp_path, "harness", "import feed\n")
    proc = subprocess.run(
        [sys.executable, "-m", "tickstorm.devtools.imports", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "cycle between feed <-> harness" in proc.stdout
