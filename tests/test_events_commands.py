"""`reminders clinics events` and `reminders events list|retry`, as an operator runs them."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from reminders.db import make_engine
from reminders.events.emission import event_row
from reminders.intake.fields import endpoint_problem
from reminders.models import AUDIT, CLINICS, EVENTS
from tests.harness import BIN, service_env


@pytest.fixture
def env(tmp_path: Path, redis_url: str, key_prefix: str) -> dict[str, str]:
    env = service_env(f"sqlite:///{tmp_path / 'cli.db'}", redis_url, key_prefix, tmp_path)
    env["COLUMNS"] = "200"
    subprocess.run([str(BIN / "reminders"), "db", "upgrade"], env=env, check=True, timeout=60)
    return env


def reminders(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "reminders"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def secrets_in(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("whsec_")]


def test_an_endpoint_is_set_with_a_secret_shown_once_rotated_audited_masked_and_removed(
    env: dict[str, str],
) -> None:
    assert reminders(env, "clinics", "create", "glow", "--name", "Glow").returncode == 0
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    plain = reminders(env, "clinics", "events", "glow", "--url", "http://glow.example/hooks")
    assert plain.returncode == 1 and "events url: https only" in plain.stderr
    local = reminders(env, "clinics", "events", "glow", "--url", "http://127.0.0.1:9/hooks")
    assert local.returncode == 1 and "REMINDERS_EVENTS_ALLOW_LOCAL_HTTP" in local.stderr

    first = reminders(env, "clinics", "events", "glow", "--url", "https://glow.example/hooks")
    assert first.returncode == 0, first.stderr
    [secret] = secrets_in(first.stdout)
    moved = reminders(env, "clinics", "events", "glow", "--url", "https://glow.example/v2")
    assert moved.returncode == 0 and secrets_in(moved.stdout) == []  # the same secret
    rotated = reminders(env, "clinics", "events", "glow", "--rotate-secret")
    [new_secret] = secrets_in(rotated.stdout)
    assert new_secret != secret
    with engine.connect() as connection:
        clinic = connection.execute(sa.select(CLINICS)).one()
        entries = connection.execute(
            sa.select(AUDIT).where(AUDIT.c.action == "events endpoint").order_by(AUDIT.c.id)
        ).all()
    assert (clinic.events_url, clinic.events_secret) == ("https://glow.example/v2", new_secret)
    assert [e.after for e in entries] == [
        {"events_url": "https://glow.example/hooks", "events_secret": "(changed)"},
        {"events_url": "https://glow.example/v2"},
        {"events_secret": "(changed)"},
    ]
    assert entries[0].before == {"events_url": "", "events_secret": "(unset)"}
    stored = json.dumps([(e.before, e.after, e.detail) for e in entries])
    assert secret not in stored and new_secret not in stored

    off = reminders(env, "clinics", "events", "glow", "--off")
    assert off.returncode == 0 and "(nowhere)" in off.stdout
    with engine.connect() as connection:
        clinic = connection.execute(sa.select(CLINICS)).one()
    assert (clinic.events_url, clinic.events_secret) == ("", "")
    engine.dispose()


def test_operators_list_dead_events_by_clinic_and_retry_them(env: dict[str, str]) -> None:
    for clinic in ("glow", "other"):
        assert reminders(env, "clinics", "create", clinic, "--name", clinic).returncode == 0
    engine = make_engine(env["REMINDERS_DATABASE_URL"])
    now = datetime(2030, 5, 2, 10, 0, tzinfo=UTC)
    data = {"reply": {"id": 1, "text": "private words"}}
    with engine.begin() as connection:
        row = event_row("glow", "patient.replied", data, now) | {
            "status": "dead", "attempts": 8, "last_error": "HTTP 500"
        }  # fmt: skip
        event_id = connection.execute(sa.insert(EVENTS).values(row).returning(EVENTS.c.id)).scalar()

    dead = reminders(env, "events", "list", "--status", "dead")
    assert dead.returncode == 1, dead.stderr  # something needs attention
    assert "patient.replied" in dead.stdout and "HTTP 500" in dead.stdout
    assert "private words" not in dead.stdout  # bodies are never shown
    elsewhere = reminders(env, "events", "list", "--clinic", "other")
    assert elsewhere.returncode == 0 and "patient.replied" not in elsewhere.stdout
    assert reminders(env, "events", "list", "--status", "lost").returncode == 1

    assert reminders(env, "events", "retry", str(event_id)).returncode == 0
    again = reminders(env, "events", "retry", str(event_id))
    assert again.returncode == 1 and "refused" in again.stdout
    with engine.connect() as connection:
        event = connection.execute(sa.select(EVENTS)).one()
        [entry] = connection.execute(sa.select(AUDIT).where(AUDIT.c.action == "event retry"))
    assert (event.status, event.attempts) == ("pending", 0)
    assert entry.actor.startswith("cli:") and entry.clinic_id == "glow"
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://clinic.example/hooks", True),
        ("https://clinic.example:8443/a?b=c", True),
        ("http://clinic.example/hooks", False),
        ("http://localhost:8080/hooks", False),
        ("ftp://clinic.example/hooks", False),
        ("https://user:pw@clinic.example/hooks", False),
        ("https://", False),
        ("https://clinic.example/with space", False),
        ("clinic.example", False),
    ],
)
def test_only_https_endpoints_are_accepted(url: str, allowed: bool) -> None:
    assert (endpoint_problem(url, allow_local_http=False) is None) == allowed


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://localhost:8080/hooks", True),
        ("http://127.0.0.1:8080/hooks", True),
        ("http://[::1]:8080/hooks", True),
        ("http://10.0.0.5/hooks", False),
        ("http://localhost.evil.example/hooks", False),
    ],
)
def test_plain_http_is_allowed_only_to_this_machine_when_configured(
    url: str, allowed: bool
) -> None:
    assert (endpoint_problem(url, allow_local_http=True) is None) == allowed
