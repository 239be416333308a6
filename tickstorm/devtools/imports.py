"""The import graph of tickstorm's top-level packages, checked: ``python -m tickstorm.devtools.imports``.

Every ``import``/``from ... import`` in every module counts, wherever it stands (module level, inside a
function, under ``TYPE_CHECKING``): a function-local import hides a dependency, it does not remove it. So
does ``importlib.import_module("pkg...")`` with a literal name, which counts too. Commands plugged in
through entry points (pyproject.toml) are not imports: the core declares the plug, packages fill it.

The check fails (exit 1) on a cycle between top-level packages, and on an import that goes against the
layers of docs/architecture.md (``LAYERS``: a package may import only packages of lower layers). It prints
the graph either way, each edge with one place that makes it.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

LAYERS: tuple[tuple[str, ...], ...] = (
    ("tickstorm",),
    ("feed", "mock_venues", "faultproxy"),
    ("harness",),
    ("reports", "observability"),
    ("benchmarks",),
)
"""Bottom to top. Packages of one layer never import each other (the feed and the mock venues stay
independent: the harness judges one with the other). ``tests`` and ``scenarios`` may import anything."""

EXCLUDED = frozenset({"tests"})


@dataclass
class Graph:
    """Package -> imported package, with one example location per edge."""

    packages: list[str]
    edges: dict[tuple[str, str], str] = field(default_factory=dict)

    def targets(self, package: str) -> list[str]:
        """The packages ``package`` imports."""
        return sorted(b for a, b in self.edges if a == package)


def top_level_packages(root: Path) -> list[str]:
    """Folders of ``root`` that are Python packages (have ``__init__.py``), tests left out."""
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and (p / "__init__.py").is_file() and p.name not in EXCLUDED
    )


def imported_modules(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """(absolute module name, line) of every import in a module, dynamic ones with a literal name included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and _is_import_call(node.func)
        ):
            yield node.args[0].value, node.lineno


def _is_import_call(func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module" or (func.attr == "__import__")
    return isinstance(func, ast.Name) and func.id in ("import_module", "__import__")


def build_graph(root: Path) -> Graph:
    """Scan every ``*.py`` of every top-level package under ``root``."""
    packages = top_level_packages(root)
    known = set(packages)
    graph = Graph(packages)
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            except (SyntaxError, UnicodeDecodeError) as exc:
                raise SystemExit(f"{path}: cannot parse: {exc}") from None
            for module, line in imported_modules(tree):
                target = module.split(".", 1)[0]
                if target in known and target != package:
                    graph.edges.setdefault((package, target), f"{path.relative_to(root)}:{line}")
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.targets(node):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for package in graph.packages:
        if package not in index:
            visit(package)
    return found


def layer_of(package: str) -> int | None:
    """The layer index of a package (None: not in ``LAYERS``)."""
    for level, members in enumerate(LAYERS):
        if package in members:
            return level
    return None


def layer_violations(graph: Graph) -> list[str]:
    """Imports that do not go strictly downward, and packages no layer names."""
    problems = []
    for package in graph.packages:
        if layer_of(package) is None:
            problems.append(f"{package}: not in any layer of tickstorm.devtools.imports.LAYERS")
    for (a, b), where in sorted(graph.edges.items()):
        la, lb = layer_of(a), layer_of(b)
        if la is not None and lb is not None and lb >= la:
            kind = "same layer" if la == lb else "upward"
            problems.append(f"{a} -> {b} ({kind}) at {where}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Print the graph; exit 1 on a cycle or a layer violation."""
    parser = argparse.ArgumentParser(prog="python -m tickstorm.devtools.imports", description=__doc__)
    parser.add_argument("root", nargs="?", type=Path, default=Path("."), help="the checkout (default: .)")
    args = parser.parse_args(argv)
    graph = build_graph(args.root)
    for level, members in reversed(list(enumerate(LAYERS))):
        print(f"layer {level}: {', '.join(members)}")
    print()
    for package in graph.packages:
        targets = graph.targets(package)
        print(f"{package} -> {', '.join(targets) if targets else '(nothing)'}")
        for target in targets:
            print(f"    {target}: {graph.edges[(package, target)]}")
    found = cycles(graph)
    problems = layer_violations(graph)
    print()
    for component in found:
        print(f"cycle between {' <-> '.join(component)}")
    for problem in problems:
        print(f"layer violation: {problem}")
    if found or problems:
        print(f"FAIL: {len(found)} cycle(s), {len(problems)} layer violation(s)")
        return 1
    print(f"ok: {len(graph.packages)} packages, {len(graph.edges)} edges, no cycle, every import goes down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
