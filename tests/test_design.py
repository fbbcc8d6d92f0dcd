"""docs/design.md matches the code: what it names exists, and every package is described."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.harness import ROOT

DESIGN = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
# Paths the document names, as `reminders/outbox/` or `reminders/outbox/lifecycle.py`.
NAMED_PATHS = sorted(set(re.findall(r"`((?:reminders|workers)/[\w/.]*?)`", DESIGN)))


def packages() -> list[Path]:
    """Every package directory under reminders/ (migrations/ is Alembic's, not ours)."""
    return sorted(
        init.parent
        for init in (ROOT / "reminders").rglob("__init__.py")
        if "migrations" not in init.parts and init.parent != ROOT / "reminders"
    )


def test_every_path_the_design_names_exists() -> None:
    assert NAMED_PATHS  # the pattern still finds the document's paths
    missing = [path for path in NAMED_PATHS if not (ROOT / path).exists()]
    assert missing == []


def test_every_package_is_in_the_design_with_a_one_line_docstring() -> None:
    for package in packages():
        relative = f"{package.relative_to(ROOT)}/"
        assert f"`{relative}`" in DESIGN, f"{relative} is not described in docs/design.md"
        docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert docstring and "\n" not in docstring.strip(), f"{relative}: one-line docstring"
