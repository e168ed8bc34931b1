"""The house's plan: imports point one way between the wings (run, grid, analysis) and what lies below them."""

from __future__ import annotations

import ast
from pathlib import Path

import scalegrid

PACKAGE = Path(scalegrid.__file__).parent
# What each part may import of scalegrid. The wings never import each other; contract, data and models lie below.
ALLOWED = {
    "contract": {"contract", "errors"},
    "errors": set(),
    "hydra_job": set(),
    "confusion": set(),
    "data": {"data", "contract", "errors"},
    "models": {"models", "contract", "errors", "__init__"},
    "run": {"run", "data", "models", "contract", "errors", "hydra_job", "confusion"},
    "grid": {"grid", "contract", "errors", "hydra_job"},
    "analysis": {"analysis", "data", "models", "contract", "errors", "confusion"},
    "cli": {"run", "grid", "analysis", "models", "contract", "errors", "hydra_job", "__init__"},
    "__init__": {"contract", "grid"},
}


def part_of(module: str) -> str:
    """``scalegrid.run.training`` -> ``run``; ``scalegrid`` (its __init__) -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "scalegrid":
            found |= {
                f"{node.module}.{alias.name}" if node.module == "scalegrid" else node.module for alias in node.names
            }
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "scalegrid"}
    return found


def edges() -> list[tuple[str, str, str]]:
    """(importing part, imported part, file) for every import of scalegrid inside scalegrid, lazy ones included."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = (
            ".".join(part for part in relative.parts if part != "__init__")
            if path.name == "__init__.py"
            else ".".join(relative.parts)
        )
        source = part_of(module)
        for imported in imports_of(path):
            target = part_of(imported)
            if imported in ("scalegrid.CONF_DIR", "scalegrid.PROJECT_ROOT"):
                target = "__init__"
            found.append((source, target, str(path.relative_to(PACKAGE))))
    return found


def test_every_part_of_the_package_is_placed():
    parts = {
        part_of(".".join(("scalegrid", *path.relative_to(PACKAGE).with_suffix("").parts)))
        for path in PACKAGE.rglob("*.py")
    }
    assert parts <= set(ALLOWED), parts - set(ALLOWED)


def test_no_import_points_the_wrong_way():
    wrong = [
        f"{file}: {source} -> {target}" for source, target, file in edges() if target not in ALLOWED[source] | {source}
    ]
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_lazy_imports_too():
    assert ("cli", "run", "cli.py") in edges()  # cli imports the run wing inside its Hydra main
