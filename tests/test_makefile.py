"""The Makefile: `make up` installs the service alone, and an old Python stops before any venv."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.harness import ROOT


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_make_up_installs_the_service_without_the_test_tools(tmp_path: Path) -> None:
    plan = make("-n", f"VENV={tmp_path / 'venv'}", "up").stdout
    assert "pip install --quiet -c requirements.lock -e ." in plan and "[test]" not in plan
    assert "reminders up" in plan


def test_make_test_adds_the_test_tools(tmp_path: Path) -> None:
    plan = make("-n", f"VENV={tmp_path / 'venv'}", "test").stdout
    assert "pip install --quiet -c requirements.lock -e '.[test]'" in plan and "pytest" in plan


def test_an_old_python_is_refused_before_the_virtual_environment_is_made(tmp_path: Path) -> None:
    old = tmp_path / "python3.9"
    old.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "Python 3.9.18" && exit 0\nexit 1\n')
    old.chmod(0o755)
    venv = tmp_path / "venv"
    done = make(f"PYTHON={old}", f"VENV={venv}", "up")
    assert done.returncode != 0
    assert "needs Python 3.11 or newer" in done.stderr and "Python 3.9.18" in done.stderr
    assert not venv.exists()
