"""Print pip constraints pinning every direct dependency to its lower bound in pyproject.toml.

`make test-lowest` installs with them, so a bound that no longer works fails CI.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

BOUND = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([^,;\s]+)")


def lowest(requirements: list[str]) -> list[str]:
    """'fastapi>=0.115' -> 'fastapi==0.115' (extras dropped: constraints cannot carry them)."""
    pins = []
    for requirement in requirements:
        found = BOUND.match(requirement.strip())
        if found:
            pins.append(f"{found.group(1)}=={found.group(3)}")
    return pins


def main() -> None:
    project = tomllib.loads(Path(sys.argv[1]).read_text())["project"]
    extras = sys.argv[2:]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    print("\n".join(lowest(wanted)))


if __name__ == "__main__":
    main()
