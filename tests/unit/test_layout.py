"""Imports point one way between packages (docs/DESIGN.md, "Layout").

catalog and commands -> cache -> spotify, models, config; worker -> cache, spotify,
models; the entry points (`app/__init__.py`'s factory, wsgi.py, celery_app.py) compose.
A new import that points the wrong way fails here with the file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE = {"app.extensions", "app.config"}
# What each package may import from the project, besides itself. The factory
# (`app/__init__.py`) composes everything and is not listed.
ALLOWED: dict[str, set[str]] = {
    "app.extensions": set(),  # a leaf
    "app.config": set(),
    "app.spotify": set(),  # knows nothing of Flask or the database either (see below)
    "app.progress": set(),
    "app.celery_setup": set(),
    "app.security": set(),
    "app.models": {"app.extensions", "app.spotify"},
    "app.ops": BASE | {"app.models"},
    "app.cache": BASE | {"app.models", "app.spotify", "app.ops"},
    "worker": BASE | {"app.models", "app.spotify", "app.ops", "app.cache", "app.progress"},
    "app.importer": BASE | {"app.models", "app.spotify", "app.cache", "app.progress", "worker"},
    "app.catalog": BASE | {"app.models", "app.spotify", "app.cache", "worker"},
}
FRAMEWORKS = ("flask", "flask_sqlalchemy", "sqlalchemy", "celery")


def package_of(module: str) -> str | None:
    """The ALLOWED key a module belongs to (None for the factory and outside modules)."""
    matches = [p for p in ALLOWED if module == p or module.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every absolute import in a module's source."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # `from app import stats` imports app.stats
                yield node.lineno, f"{node.module}.{alias.name}"


def violations(module: str, source: str) -> list[str]:
    """Imports of `module` that point the wrong way."""
    own = package_of(module)
    if own is None:
        return []
    found: list[str] = []
    for line, target in imports(source):
        if own == "app.spotify" and target.split(".")[0] in FRAMEWORKS:
            found.append(f"{module}:{line} imports {target} (the Spotify client is framework-free)")
        other = package_of(target)
        if other is None and target.split(".")[0] in ("app", "worker"):
            other = target  # a project module no package claims: always a violation
        if other is not None and other != own and other not in ALLOWED[own]:
            found.append(f"{module}:{line} imports {target} ({own} may not import {other})")
    return found


def project_modules() -> Iterator[tuple[str, str]]:
    for folder in ("app", "worker"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield module_name(path), path.read_text()


def test_every_import_points_the_allowed_way() -> None:
    found = [v for module, source in project_modules() for v in violations(module, source)]
    assert found == []


def test_the_allowed_graph_has_no_cycles() -> None:
    done: set[str] = set()

    def visit(package: str, path: tuple[str, ...]) -> None:
        assert package not in path, " -> ".join((*path, package))
        if package in done:
            return
        for other in ALLOWED[package]:
            visit(other, (*path, package))
        done.add(package)

    for package in ALLOWED:
        visit(package, ())


def test_a_wrong_way_import_is_caught() -> None:
    # The read path importing the worker, and the Spotify client importing Flask.
    assert violations("app.cache.lookup", "from worker.queue import enqueue_fetch\n") == [
        "app.cache.lookup:1 imports worker.queue (app.cache may not import worker)",
        "app.cache.lookup:1 imports worker.queue.enqueue_fetch (app.cache may not import worker)",
    ]
    assert violations("app.spotify.client", "import flask\n")
    assert violations("app.extensions", "from app import models\n")
    assert violations("worker.fetch", "from app.catalog.views import index\n")
    assert violations("app.catalog.views", "from worker.queue import enqueue_fetch\n") == []
