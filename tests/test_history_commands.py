"""`reminders retention run|days` and `reminders patients erase`, as an operator runs them."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from reminders.db import make_engine
from reminders.models import AUDIT, HISTORY, MESSAGES, PATIENTS
from reminders.outbox import lifecycle as lc
from tests.harness import BIN, service_env
from tests.opsdata import NOW, Outbox

OLD = NOW - timedelta(days=400)  # beyond 180 days of the wall clock, whenever this runs


@pytest.fixture
def env(tmp_path: Path, redis_url: str, key_prefix: str) -> dict[str, str]:
    env = service_env(f"sqlite:///{tmp_path / 'cli.db'}", redis_url, key_prefix, tmp_path)
    env["COLUMNS"] = "200"
    subprocess.run([str(BIN / "reminders"), "db", "upgrade"], env=env, check=True, timeout=60)
    return env


def reminders(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "reminders"), *args], env=env, capture_output=True, text=True, timeout=120
    )


def count(env: dict[str, str], table: sa.Table) -> int:
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    with engine.connect() as connection:
        found = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    engine.dispose()
    return int(found)


def test_retention_run_says_what_it_would_move_then_moves_it(env: dict[str, str]) -> None:
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    box = Outbox(engine)
    box.add(lc.DELIVERED, updated_at=OLD)
    box.add(lc.SKIPPED, "email", updated_at=OLD)
    Outbox(engine, "clinic-b", "p-b").add(lc.SENT, updated_at=OLD)
    engine.dispose()

    dry = reminders(env, "retention", "run", "--dry-run", "--clinic", "clinic-a")
    assert dry.returncode == 0, dry.stderr
    assert "would move 2 messages of 1 finished treatments" in dry.stdout
    assert count(env, HISTORY) == 0

    done = reminders(env, "retention", "run", "--clinic", "clinic-a")
    assert done.returncode == 0, done.stderr
    assert "moved 2 messages of 1 finished treatments" in done.stdout
    assert (count(env, HISTORY), count(env, MESSAGES)) == (2, 1)  # clinic-b's row stays


def test_retention_days_refuses_zero_and_an_unknown_clinic(env: dict[str, str]) -> None:
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    Outbox(engine)
    engine.dispose()
    zero = reminders(env, "retention", "days", "clinic-a", "0")
    assert zero.returncode == 1 and "days: must be between 1 and 3650" in zero.stderr
    unknown = reminders(env, "retention", "run", "--clinic", "nowhere")
    assert unknown.returncode == 1 and "--clinic: no clinic 'nowhere'" in unknown.stderr
    ok = reminders(env, "retention", "days", "clinic-a", "30")
    assert ok.returncode == 0 and count(env, AUDIT) == 1


def test_patients_erase_blanks_the_patient_and_names_a_missing_one(env: dict[str, str]) -> None:
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    box = Outbox(engine)
    box.add(lc.PENDING, due_at=NOW + timedelta(days=400))
    engine.dispose()
    missing = reminders(env, "patients", "erase", "clinic-a", "nobody")
    assert missing.returncode == 1 and "no patient 'nobody'" in missing.stderr
    done = reminders(env, "patients", "erase", "clinic-a", "p-1")
    assert done.returncode == 0, done.stderr
    assert "1 cancelled" in done.stdout
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(PATIENTS.c.first_name, PATIENTS.c.phone, PATIENTS.c.email)
        ).one()
    engine.dispose()
    assert tuple(row) == ("", None, None)
    assert "+1555" not in done.stdout and "Ana" not in done.stdout
