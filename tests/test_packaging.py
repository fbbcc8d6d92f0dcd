"""A plain `pip install .` (a wheel, not an editable install) carries every template."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from reminders.cli.templates import Sample, lint
from reminders.delivery.rendering import TEMPLATE_DIR
from tests.harness import ROOT

PACKAGED = "reminders/templates/"


def build_wheel(tmp_path: Path) -> Path:
    """The project's wheel, built by pip from a clean copy of the sources (as a user would)."""
    source = tmp_path / "source"
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in ("reminders", "workers"):
        shutil.copytree(ROOT / name, source / name, ignore=junk)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--quiet"]
    subprocess.run([*command, "-w", str(tmp_path / "dist")], check=True, timeout=600)
    [wheel] = (tmp_path / "dist").glob("*.whl")
    return wheel


def test_the_wheel_holds_every_template_and_they_pass_the_lint(tmp_path: Path) -> None:
    with zipfile.ZipFile(build_wheel(tmp_path)) as wheel:
        names = set(wheel.namelist())
        wheel.extractall(tmp_path / "installed", [n for n in names if n.startswith(PACKAGED)])
    shipped = {
        PACKAGED + path.relative_to(TEMPLATE_DIR).as_posix()
        for path in TEMPLATE_DIR.rglob("*")
        if path.is_file()
    }
    for expected in ("sms/es/help.txt", "page/en/unsubscribe_confirm.html", "email/layout.html"):
        assert PACKAGED + expected in shipped
    assert {name for name in names if name.startswith(PACKAGED)} == shipped
    assert [r for r in lint(tmp_path / "installed" / PACKAGED, Sample()) if r.problems] == []
