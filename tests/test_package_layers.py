"""The top-level packages form layers: each imports only the ones below it, so no package-level cycle exists.

benchcore (errors, atomic writes, audio) < upstream < downstream_tasks < results < bench; configs holds YAML only.
Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("configs", "benchcore", "upstream", "downstream_tasks", "results", "bench")


def imported_packages(package: str) -> dict[str, set[str]]:
    """For each project package that ``package``'s modules import: the modules that import it."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in LAYERS and top != package:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_package_imports_only_packages_below_it() -> None:
    violations = []
    for rank, package in enumerate(LAYERS):
        for imported, modules in imported_packages(package).items():
            if LAYERS.index(imported) > rank:
                violations.append(f"{package} imports {imported} in {sorted(modules)}")
    assert not violations, violations


def test_the_leaf_package_imports_no_project_package() -> None:
    assert imported_packages("benchcore") == {}
    assert imported_packages("configs") == {}
    # and the layers are really used: the check above would pass vacuously on an empty tree
    assert "benchcore" in imported_packages("downstream_tasks") and "upstream" in imported_packages("downstream_tasks")
