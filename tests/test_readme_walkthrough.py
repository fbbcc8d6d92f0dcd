"""The README's walkthrough runs as pasted: its shell block, against a served API."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from reminders.models import Message
from tests.harness import ROOT, service_env
from tests.processes import served_api

MARKER = "<!-- walkthrough: tests/test_readme_walkthrough.py runs this block as written -->"


def walkthrough_block() -> str:
    """The ```sh block right after the walkthrough marker in README.md."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    after = readme.split(MARKER, 1)[1]
    found = re.match(r"\s*```sh\n(.*?)\n```", after, re.S)
    assert found, "README: the walkthrough marker is not followed by a ```sh block"
    return found.group(1)


def test_the_readme_walkthrough_posts_an_event_whose_first_messages_are_due_now(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    env = service_env(database_url, redis_url, key_prefix, tmp_path / "var")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")  # the block runs .venv/bin/reminders
    with served_api(env, tmp_path / "api.log") as port:
        script = walkthrough_block().replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}")
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("HTTP 202"), done.stdout
    answer = json.loads(done.stdout.split("\n", 1)[1])
    first = {(p["key"], p["channel"]): p["status"] for p in answer["plan"]}
    assert first[("first_night", "sms")] == "pending" == first[("first_night", "email")]
    with Session(engine) as session:
        rows = session.exec(select(Message).where(Message.clinic_id == "glow")).all()
    assert rows and sum(row.status == "skipped" for row in rows) < len(rows)


def test_every_link_in_the_readme_stays_inside_the_project_or_is_a_web_address() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", readme):
        if target.startswith(("http://", "https://", "#")):
            continue
        path = (ROOT / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT) and path.exists(), target
