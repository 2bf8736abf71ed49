"""The packages import only what `../shared/ARCHITECTURE.md` lets them, read from every import statement.

`knowledge`, `channels`, `routing` and `analytics` import nothing of ours; `agent` only `knowledge`; the
conversation core (`conversations`) those five; `evaluation` and `frontdesk` (the composition root) anything.
So nothing below the composition root imports it, and nothing below the conversation core imports that.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("knowledge", "agent", "channels", "routing", "analytics", "conversations", "evaluation", "frontdesk")
MAY_IMPORT: dict[str, frozenset[str]] = {
    "knowledge": frozenset(),
    "agent": frozenset({"knowledge"}),
    "channels": frozenset(),
    "routing": frozenset(),
    "analytics": frozenset(),
    "conversations": frozenset({"agent", "channels", "routing", "analytics", "knowledge"}),
    "evaluation": frozenset(OURS) - {"evaluation"},
    "frontdesk": frozenset(OURS) - {"frontdesk"},
}


def _imported_packages(path: Path) -> set[str]:
    """The top-level names this module imports, at any depth of the file (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.partition(".")[0])
    return found


@pytest.mark.parametrize("package", OURS)
def test_each_package_imports_only_what_the_architecture_allows(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, f"no modules under {package}/"
    wrong = {
        str(module.relative_to(ROOT)): sorted(
            (_imported_packages(module) & set(OURS)) - MAY_IMPORT[package] - {package}
        )
        for module in modules
    }
    wrong = {module: names for module, names in wrong.items() if names}
    assert not wrong, f"{package}/ may import {sorted(MAY_IMPORT[package]) or 'nothing of ours'}; found {wrong}"


def test_the_conversation_core_lives_outside_the_composition_root() -> None:
    moved = ("inbox", "intake", "outbox", "handoff", "hours", "interactions", "erasure", "webchat", "store")
    assert all((ROOT / "conversations" / f"{name}.py").is_file() for name in moved)
    assert not [name for name in moved if (ROOT / "frontdesk" / f"{name}.py").exists()]


def test_only_the_store_writes_the_conversation_tables() -> None:
    import re

    writes = re.compile(r"sa\.(insert|update|delete)\((messages_table|conversations_table)\)")
    writers = sorted(
        str(module.relative_to(ROOT))
        for package in OURS
        for module in (ROOT / package).rglob("*.py")
        if writes.search(module.read_text(encoding="utf-8"))
    )
    assert writers == ["conversations/store.py"], f"the conversation tables are written in {writers}"
