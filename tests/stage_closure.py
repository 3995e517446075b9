"""Each DVC stage's import closure: the package files its script runs, and the fewest deps that cover them."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "conchshell"


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("conchshell", cache_dir=None)


def module_file(module: str) -> Path:
    path = REPO / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def script_imports(script: Path) -> set[str]:
    """The conchshell modules a script imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "conchshell":
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names} & graph().modules
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "conchshell"}
    return found


def stage_closure(stage: str) -> set[str]:
    """Every package file (relative to the repository) that `stages/<stage>.py` imports, directly or not."""
    modules = set()
    for module in script_imports(REPO / "stages" / f"{stage}.py"):
        modules |= {module} | graph().find_upstream_modules(module)
    # a package's __init__ runs on import; those holding only a docstring are left out of the deps
    return {str(module_file(m).relative_to(REPO)) for m in modules if not _docstring_only(module_file(m))}


def _docstring_only(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return path.name == "__init__.py" and all(
        isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body
    )


def covering_deps(files: set[str]) -> list[str]:
    """The fewest deps naming `files`: a folder when every module under it is in `files`, else the files."""
    deps: list[str] = []
    for folder in sorted(p for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__"):
        rel = str(folder.relative_to(REPO))
        if any(rel.startswith(d + "/") for d in deps):
            continue
        inside = {str(p.relative_to(REPO)) for p in folder.rglob("*.py") if not _docstring_only(p)}
        if inside and inside <= files:
            deps.append(rel)
    covered = {f for f in files if any(f.startswith(d + "/") for d in deps)}
    return sorted(deps + sorted(files - covered))
