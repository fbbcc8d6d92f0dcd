"""requirements.lock pins what the tests run; .ci/lowest.py pins pyproject's lower bounds."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.harness import ROOT


def locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pins[canonicalize_name(name.strip())] = version.split()[0]
    return pins


def direct() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    every = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        every += extra
    return [Requirement(text) for text in every]


def test_the_lock_pins_every_dependency_at_a_version_pyproject_allows() -> None:
    pins = locked()
    for requirement in direct():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock has {name}=={pins[name]}, pyproject.toml wants {requirement}: "
            "run `make lock`"
        )


def test_the_lowest_constraints_pin_each_runtime_dependency_to_its_lower_bound() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "lowest.py"), str(ROOT / "pyproject.toml")],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.split()  # fmt: skip
    assert "fastapi==0.115.8" in out and "cryptography==42.0" in out
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len(out) == len(runtime)
