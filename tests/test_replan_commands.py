"""`reminders clinics set / replan / replan-status`, as an operator runs them."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from reminders.db import make_engine
from reminders.models import Message
from tests.harness import BIN, service_env

# The commands run on the wall clock: sessions ended an hour ago (the future is refused).
ENDED = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
HEADER = "external_id,first_name,phone,timezone,consent_sms,consent_email,treatment_id,ended_at"
ROW = f"p-1,Ana,612 345 678,Europe/Madrid,yes,no,t-1,{ENDED}"


@pytest.fixture
def env(tmp_path: Path, redis_url: str, key_prefix: str) -> dict[str, str]:
    env = service_env(f"sqlite:///{tmp_path / 'cli.db'}", redis_url, key_prefix, tmp_path)
    env["COLUMNS"] = "200"  # rich wraps tables to the terminal width
    subprocess.run([str(BIN / "reminders"), "db", "upgrade"], env=env, check=True, timeout=60)
    return env


def reminders(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "reminders"), *args], env=env, capture_output=True, text=True, timeout=120
    )


def outbox(env: dict[str, str], clinic_id: str) -> dict[str, dict[str, Any]]:
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    with Session(engine) as session:
        found = session.exec(select(Message).where(Message.clinic_id == clinic_id))
        shown = {m.idempotency_key: m.model_dump() for m in found}
    engine.dispose()
    return shown


def test_set_queues_a_replan_that_replan_here_runs_for_that_clinic_only(
    env: dict[str, str], tmp_path: Path
) -> None:
    for clinic_id in ("glow", "other"):
        caps = ("--region", "ES", "--sms-per-day", "2", "--sms-per-week", "4")
        created = reminders(env, "clinics", "create", clinic_id, "--name", clinic_id, *caps)
        assert created.returncode == 0, created.stderr
        csv_file = tmp_path / f"{clinic_id}.csv"
        csv_file.write_text(f"{HEADER}\n{ROW}\n")
        imported = reminders(env, "import", str(csv_file), "--clinic", clinic_id)
        assert imported.returncode == 0, imported.stdout + imported.stderr
    other_before = outbox(env, "other")

    listed = json.loads(reminders(env, "clinics", "list", "--json").stdout)
    assert {(c["sms_per_day"], c["sms_per_week"]) for c in listed} == {(2, 4)}
    too_many = reminders(env, "clinics", "set", "glow", "--sms-per-day", "30")
    assert too_many.returncode == 1 and "sms_per_day" in too_many.stderr
    renamed = reminders(env, "clinics", "set", "glow", "--name", "Glow Clinic")
    assert renamed.returncode == 0 and "re-plan" not in renamed.stdout
    moved = reminders(env, "clinics", "set", "glow", "--window", "13:00-17:00")
    assert moved.returncode == 0, moved.stderr
    assert "re-plan job 1 queued" in moved.stdout
    assert "reminders clinics replan-status glow --watch" in moved.stdout
    status = reminders(env, "clinics", "replan-status", "glow")
    assert "queued" in status.stdout and "window" in status.stdout

    here = reminders(env, "clinics", "replan", "glow", "--here")
    assert here.returncode == 0, here.stderr
    assert "already queued: job 1" in here.stderr
    assert "re-plan job 1 done: 1 patients re-planned" in here.stdout
    pending = [r for r in outbox(env, "glow").values() if r["status"] == "pending"]
    madrid = ZoneInfo("Europe/Madrid")
    assert pending and all(13 <= r["due_at"].astimezone(madrid).hour < 17 for r in pending)
    assert outbox(env, "other") == other_before
    watched = reminders(env, "clinics", "replan-status", "glow", "--watch")
    assert "re-plan job 1 done: 1 patients re-planned" in watched.stdout

    queued = reminders(env, "clinics", "replan", "glow", "--no-wait")
    assert queued.returncode == 0 and queued.stdout.strip() == "2"
    listed = reminders(env, "clinics", "replan-status", "glow").stdout
    assert "1/1" in listed and "done" in listed and "queued" in listed
    assert "no re-plan jobs" in reminders(env, "clinics", "replan-status", "other").stdout
