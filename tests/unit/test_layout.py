"""Imports point one way between packages (docs/DESIGN.md, "Layout").

catalog and commands -> cache -> spotify, models, config; worker -> cache, spotify,
models; the entry points (`app/__init__.py`'s factory, wsgi.py, celery_app.py) compose.
A new import that points the wrong way fails here with the file and line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE = {"app.extensions", "app.config"}
# What each package may import from the project, besides itself. The factory
# (`app/__init__.py`) composes everything and is not listed.
LOW = {"app.redis_lua", "app.ops.counters"}  # the Redis clock; counters everyone adds to
ALLOWED: dict[str, set[str]] = {
    "app.extensions": set(),  # a leaf
    "app.config": set(),
    "app.redis_lua": set(),
    "app.spotify": {"app.redis_lua"},  # knows nothing of Flask or the database (see below)
    "app.sources": {"app.spotify"},  # framework-free too
    "app.progress": set(),
    "app.celery_setup": {"app.broker"},
    "app.broker": set(),
    "app.security": set(),
    "app.models": {"app.extensions", "app.spotify"},
    "app.ops.counters": BASE,
    "app.cache": BASE | LOW | {"app.models", "app.spotify"},
    "worker": BASE
    | LOW
    | {"app.models", "app.spotify", "app.sources", "app.cache", "app.progress"},
    "app.ops": BASE | LOW | {"app.models", "app.spotify", "app.cache", "worker"},
    "app.importer": BASE | {"app.models", "app.spotify", "app.cache", "app.progress", "worker"},
    "app.catalog": BASE | {"app.models", "app.spotify", "app.cache", "worker"},
    # Administrators: pins go through the read path's entries and the worker's queue.
    "app.curation": BASE | {"app.models", "app.spotify", "app.cache", "app.sources", "worker"},
    "app.admin": BASE | {"app.models", "app.curation", "worker"},
}
FRAMEWORK_FREE = ("app.spotify", "app.sources")
FRAMEWORKS = ("flask", "flask_sqlalchemy", "sqlalchemy", "celery")
# The fetch lock's keys and states belong to its protocol module, the Redis clock to its own.
LOCK_OWNER = "app.cache.fetch_lock"
LOCK_WORDS = ("fetching:", "fetch-lock", "fetch:pending")
CLOCK_OWNER = "app.redis_lua"


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
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            # `from app.ops import counters` imports the module app.ops.counters (and runs
            # app/ops/__init__.py, a docstring); `from app.x import name` imports app.x.
            if not all(_is_module(name) for name in names):
                yield node.lineno, node.module
            for name in names:
                yield node.lineno, name


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def violations(module: str, source: str) -> list[str]:
    """Imports of `module` that point the wrong way."""
    own = package_of(module)
    if own is None:
        return []
    found: list[str] = []
    for line, target in imports(source):
        if own in FRAMEWORK_FREE and target.split(".")[0] in FRAMEWORKS:
            found.append(f"{module}:{line} imports {target} ({own} is framework-free)")
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


def owner_violations(module: str, source: str) -> list[str]:
    """Fetch-lock keys or states, or the Redis clock, written outside their owner."""
    found: list[str] = []
    tree = ast.parse(source)
    dict_keys = {id(k) for node in ast.walk(tree) if isinstance(node, ast.Dict) for k in node.keys}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        text = node.value
        # "queued" as a dict key is a report's label (cache-stats), not the lock state.
        state = text == "queued" and id(node) not in dict_keys
        if module != LOCK_OWNER and (state or any(w in text for w in LOCK_WORDS)):
            found.append(f"{module}:{node.lineno} writes a fetch-lock key or state")
        if module != CLOCK_OWNER and "redis.call('TIME')" in text.replace('"', "'"):
            found.append(f"{module}:{node.lineno} reads the Redis clock itself")
    return found


def test_lock_keys_states_and_the_clock_have_one_owner() -> None:
    found = [v for module, source in project_modules() for v in owner_violations(module, source)]
    assert found == []


def test_a_second_owner_is_caught() -> None:
    assert owner_violations("worker.fetch", "client.set(key, 'queued')\n")
    assert owner_violations("worker.batch", "KEY = 'album:1:fetch-lock'\n")
    assert owner_violations("app.ops.health", "S = \"local t = redis.call('TIME')\"\n")
    assert owner_violations("app.ops.cli", "body = {'queued': 3}\n") == []
    assert owner_violations(LOCK_OWNER, "QUEUED = 'queued'\n") == []


def test_the_design_doc_names_every_module() -> None:
    design = (ROOT / "docs" / "DESIGN.md").read_text()
    named = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", design))
    missing = [
        module for module, _source in project_modules() if module.rsplit(".", 1)[-1] not in named
    ]
    assert missing == []
