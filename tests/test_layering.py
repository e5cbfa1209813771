"""The import rules of docs/architecture.md, checked on the source so a shortcut fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Top-level parts that run on the IOLoop or in pools and must stay apart:
# package prefix -> prefixes its modules may never import.
FORBIDDEN = {
    "models": ("server", "handlers", "tornado"),  # plain sync queries, usable from any thread
    "server.services": ("handlers", "tornado.web", "tornado.websocket"),  # no HTTP in logic
    "handlers": ("models",),  # handlers go through services, never straight to tables
}
# server/ core modules (not the assembly: app, __main__, context) know nothing of handlers,
# services or tables; media.py also runs inside worker processes.
CORE_FORBIDDEN = ("handlers", "server.services", "models")
ASSEMBLY = {"server.app", "server.__main__", "server.context", "server.cli", "server.cluster"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def sources() -> list[Path]:
    return sorted(p for d in ("server", "handlers", "models") for p in (ROOT / d).rglob("*.py"))


def forbidden_for(module: str) -> tuple[str, ...]:
    for prefix, banned in FORBIDDEN.items():
        if module == prefix or module.startswith(prefix + "."):
            return banned
    if module.startswith("server.") and module not in ASSEMBLY:
        return CORE_FORBIDDEN
    return ()


def breaks(name: str, banned: tuple[str, ...]) -> bool:
    return any(name == b or name.startswith(b + ".") for b in banned)


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_keeps_to_its_layer(path):
    module = module_name(path)
    banned = forbidden_for(module)
    wrong = sorted(name for name in imports_of(path) if breaks(name, banned))
    assert not wrong, f"{module} may not import {wrong} (see docs/architecture.md)"


def test_the_rules_catch_a_shortcut(tmp_path):
    # The checker itself: a model importing tornado is caught.
    fake = tmp_path / "x.py"
    fake.write_text("from tornado.ioloop import IOLoop\nimport server.hub\n")
    assert {n for n in imports_of(fake) if breaks(n, FORBIDDEN["models"])} == {
        "tornado.ioloop",
        "tornado.ioloop.IOLoop",
        "server.hub",
    }
