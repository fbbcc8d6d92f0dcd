"""Shared benchmark plumbing: a throwaway PostgreSQL database, bulk rows, results files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from reminders.db import make_engine
from reminders.migration import upgrade

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ADMIN_URL = os.environ.get(
    "REMINDERS_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("REMINDERS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def machine() -> dict[str, Any]:
    """Cores, memory and commit, so figures can be compared fairly."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(pages / 2**30, 1),
        "python_loop_ms": python_loop_ms(),
        "commit": commit,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def python_loop_ms() -> float:
    """A fixed pure-Python loop's time, best of five: this shared machine's speed right now.

    Its speed drifts by up to 2x over a day; a figure measured at 20 ms here and one at 10 ms
    compare only after scaling by this.
    """
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        sum(i * i for i in range(200_000))
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def save(name: str, figures: dict[str, Any], summary: str) -> None:
    """Write bench/results/NAME.json and print the one-line summary."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, **figures, "machine": machine()}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(f"{name}: {summary}")


class Database:
    """A fresh PostgreSQL database, migrated, dropped on exit."""

    def __init__(self, admin_url: str = ADMIN_URL) -> None:
        self.admin = make_url(admin_url)
        self.name = f"reminders_bench_{uuid.uuid4().hex[:8]}"
        self.url = self.admin.set(database=self.name).render_as_string(hide_password=False)

    def __enter__(self) -> Database:
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.engine = make_engine(self.url)
        upgrade(self.engine)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.engine.dispose()
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _dsn(self, database: str) -> str:
        url = self.admin.set(drivername="postgresql", database=database)
        return url.render_as_string(hide_password=False)

    def dsn(self) -> str:
        """A libpq connection string for this database (for COPY)."""
        return self._dsn(self.name)


def seed_people(dsn: str, patients: int) -> None:
    """One clinic (window always open) and `patients` consenting patients with a treatment."""
    now = datetime.now(UTC)
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO clinic (id, name, phone, email, booking_url, address, default_region,"
            " locale, window_start, window_end, sms_per_day, sms_per_week, protocol,"
            " protocol_overrides, webhook_secret, previous_webhook_secret, created_at)"
            " VALUES ('bench', 'Bench Clinic', '+15550100000', '', '', '', 'US', 'en',"
            " '00:00', '00:00', 100000, 100000, 'microneedling', '{}', '', '', %s)",
            (now,),
        )
        with conn.cursor().copy(
            "COPY patient (id, clinic_id, external_id, first_name, phone, email, timezone,"
            " locale, consent_sms, consent_email, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(1, patients + 1):
                copy.write_row(
                    (
                        n,
                        "bench",
                        f"p{n}",
                        "Ana",
                        f"+1555{n:07d}",
                        None,
                        "UTC",
                        "en",
                        True,
                        False,
                        now,
                        now,
                    )
                )
        with conn.cursor().copy(
            "COPY treatment (id, clinic_id, patient_id, external_id, ended_at, area,"
            " session_number, sessions_planned, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(1, patients + 1):
                copy.write_row(
                    (n, "bench", n, f"t{n}", now - timedelta(days=1), "face", 1, 1, now, now)
                )
        conn.execute("SELECT setval('patient_id_seq', %s)", (patients,))
        conn.execute("SELECT setval('treatment_id_seq', %s)", (patients,))


def copy_messages(dsn: str, count: int, due_at: datetime, patients: int, tag: str) -> None:
    """COPY `count` pending SMS rows due at `due_at`, spread over the patients."""
    now = datetime.now(UTC)
    buffer = io.StringIO()
    for n in range(count):
        patient = n % patients + 1
        buffer.write(
            f"{tag}-{n}:sms\tbench\t{patient}\t{patient}\tday_1\tsms\tpending\t"
            f"{due_at.isoformat()}\t{due_at.isoformat()}\t0\tbench\t{now}\t{now}\n"
        )
    buffer.seek(0)
    with (
        psycopg.connect(dsn) as conn,
        conn.cursor().copy(
            "COPY message (idempotency_key, clinic_id, patient_id, treatment_id, step_key, channel,"
            " status, due_at, next_attempt_at, attempts, protocol_version, created_at, updated_at)"
            " FROM STDIN"
        ) as copy,
    ):
        while chunk := buffer.read(1 << 20):
            copy.write(chunk)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE message")
        # Flush the bulk load now, so no checkpoint competes with what is measured next.
        conn.execute("CHECKPOINT")
