"""`reminders operators ...` and `reminders audit`, as an administrator runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from reminders.db import make_engine
from tests.factories import make_clinic
from tests.harness import BIN, service_env

SECRET = "a long enough password"


@pytest.fixture
def env(tmp_path: Path, redis_url: str, key_prefix: str) -> dict[str, str]:
    env = service_env(f"sqlite:///{tmp_path / 'cli.db'}", redis_url, key_prefix, tmp_path)
    env["COLUMNS"] = "200"  # rich wraps tables to the terminal width
    subprocess.run([str(BIN / "reminders"), "db", "upgrade"], env=env, check=True, timeout=60)
    make_clinic(make_engine(env["REMINDERS_DATABASE_URL"]), "glow")
    return env


def reminders(
    env: dict[str, str], *args: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    extra = {"REMINDERS_OPERATOR_PASSWORD": password} if password is not None else {}
    return subprocess.run(
        [str(BIN / "reminders"), *args],
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_accounts_are_added_changed_disabled_and_audited_without_secrets(
    env: dict[str, str],
) -> None:
    added = reminders(env, "operators", "add", "bea", "--role", "staff", "--clinic", "glow",
                      password=SECRET)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert (
        reminders(env, "operators", "add", "ada", "--role", "admin", password=SECRET).returncode
        == 0
    )
    listed = reminders(env, "operators", "list").stdout
    assert "bea" in listed and "staff" in listed and "glow" in listed and "$argon2" not in listed
    assert reminders(env, "operators", "passwd", "bea", password="another long one").returncode == 0
    assert reminders(env, "operators", "role", "bea", "--role", "admin").returncode == 0
    assert reminders(env, "operators", "disable", "bea").returncode == 0
    trail = reminders(env, "audit", "--json", "--limit", "10")
    rows = [json.loads(line) for line in trail.stdout.splitlines()]
    assert [r["action"] for r in rows] == [
        "operator disable", "operator role", "operator password", "operator create",
        "operator create",
    ]  # fmt: skip
    assert all(r["actor"].startswith("cli:") for r in rows)
    assert SECRET not in trail.stdout and "another long one" not in trail.stdout
    assert "$argon2" not in trail.stdout
    glow = reminders(env, "audit", "--clinic", "glow", "--action", "operator create", "--json")
    assert [json.loads(line)["target"] for line in glow.stdout.splitlines()] == ["operator:bea"]


def test_a_refused_account_names_the_rule_exits_1_and_writes_nothing(env: dict[str, str]) -> None:
    staff_without_clinic = reminders(env, "operators", "add", "bea", password=SECRET)
    assert staff_without_clinic.returncode == 1
    assert "clinic: a staff account needs the clinic" in staff_without_clinic.stderr
    short = reminders(env, "operators", "add", "ada", "--role", "admin", password="short")
    assert short.returncode == 1 and "password: at least 12 characters" in short.stderr
    assert "short" not in short.stdout
    no_terminal = reminders(env, "operators", "add", "ada", "--role", "admin")
    assert no_terminal.returncode == 1 and "REMINDERS_OPERATOR_PASSWORD" in no_terminal.stderr
    assert "ada" not in reminders(env, "operators", "list").stdout
    assert reminders(env, "audit", "--json").stdout == ""
