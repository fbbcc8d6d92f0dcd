"""What the crash tests share: a burst of due SMS, the fake Twilio process, counts and verdicts."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reminders.models import CLINICS, MESSAGES, PATIENTS, TREATMENTS
from tests.fakes.twilio_remote import RemoteFakeTwilio
from tests.harness import ServiceProcess, celery_beat_argv, celery_worker_argv, service_env

# Lines a healthy worker or beat prints every tick; a failure digest leaves them out.
ROUTINE = re.compile(
    r"Task reminders\.\w+\[[0-9a-f-]+\] (received|succeeded)|Sending due task|alembic"
)
SETTLED = ("sent", "delivered", "failed", "dead", "skipped", "cancelled")
# Short leases and intervals so recovery happens within a test's minute.
CHAOS_SETTINGS = {
    "REMINDERS_LEASE_SECONDS": "6",
    "REMINDERS_SWEEP_INTERVAL_SECONDS": "1",
    "REMINDERS_RECONCILE_INTERVAL_SECONDS": "1",
    "REMINDERS_RECONCILE_GRACE_SECONDS": "2",
    "REMINDERS_DISPATCH_INTERVAL_SECONDS": "0.5",
    "REMINDERS_DISPATCH_BATCH_SIZE": "50",
    "REMINDERS_RETRY_BASE_SECONDS": "0.5",
    "REMINDERS_RETRY_CAP_SECONDS": "2",
    "REMINDERS_MAX_ATTEMPTS": "12",
    "REMINDERS_SENDS_PER_SECOND": "100000",
    "REMINDERS_TWILIO_TIMEOUT_SECONDS": "2",
}


def seed_burst(engine: Engine, messages: int, patients: int) -> list[int]:
    """`messages` due SMS rows spread over `patients` consenting patients; returns their ids."""
    now = datetime.now(UTC)
    stamp = {"created_at": now, "updated_at": now}
    with engine.begin() as connection:
        connection.execute(
            sa.insert(CLINICS).values(
                id="chaos",
                name="Chaos Clinic",
                phone="+15550100000",
                email="",
                booking_url="",
                address="",
                default_region="US",
                locale="en",
                window_start=clock_time(0),
                window_end=clock_time(0),
                sms_per_day=10_000,
                sms_per_week=10_000,
                protocol="microneedling",
                protocol_overrides={},
                webhook_secret="",
                previous_webhook_secret="",
                created_at=now,
            )
        )
        connection.execute(
            sa.insert(PATIENTS),
            [
                dict(
                    clinic_id="chaos",
                    external_id=f"p{n}",
                    first_name="Ana",
                    phone=f"+1555{n:07d}",
                    timezone="UTC",
                    locale="en",
                    consent_sms=True,
                    consent_email=False,
                    **stamp,
                )
                for n in range(patients)
            ],
        )
        people = connection.execute(sa.select(PATIENTS.c.id).order_by(PATIENTS.c.id)).scalars()
        person_ids = list(people)
        connection.execute(
            sa.insert(TREATMENTS),
            [
                dict(
                    clinic_id="chaos",
                    patient_id=pid,
                    external_id=f"t{pid}",
                    ended_at=now - timedelta(hours=1),
                    area="face",
                    session_number=1,
                    sessions_planned=1,
                    **stamp,
                )
                for pid in person_ids
            ],
        )
        treatments = {
            pid: tid
            for pid, tid in connection.execute(sa.select(TREATMENTS.c.patient_id, TREATMENTS.c.id))
        }
        due = now - timedelta(seconds=30)
        connection.execute(
            sa.insert(MESSAGES),
            [
                dict(
                    idempotency_key=f"chaos-{n}",
                    clinic_id="chaos",
                    patient_id=pid,
                    treatment_id=treatments[pid],
                    step_key="day_1",
                    channel="sms",
                    status="pending",
                    due_at=due,
                    next_attempt_at=due,
                    attempts=0,
                    protocol_version="chaos",
                    **stamp,
                )
                for n, pid in enumerate(person_ids[n % patients] for n in range(messages))
            ],
        )
        ids = connection.execute(sa.select(MESSAGES.c.id)).scalars()
        return list(ids)


@dataclass
class Crew:
    """A worker (and optionally several beats) running against the test's services."""

    worker: ServiceProcess
    beats: list[ServiceProcess]
    restarts: int = 0

    def revive(self) -> None:
        """Restart what exited, as compose's `restart: unless-stopped` and `make up` do."""
        # Celery 5.7's worker can exit on a Redis restart (kombu closes the lost connection
        # twice); production restarts it, so the tests do too and count it.
        if self.worker.process is not None and self.worker.process.poll() is not None:
            self.worker.start(ready_text="ready.", timeout=90)
            self.restarts += 1
        for beat in self.beats:
            if beat.process is not None and beat.process.poll() is not None:
                beat.start()
                self.restarts += 1

    def stop(self) -> None:
        for beat in self.beats:
            beat.stop()
        self.worker.stop()

    def digest(self, lines: int = 40) -> str:
        """The last lines each process logged, without routine task chatter."""
        parts = []
        for process in [self.worker, *self.beats]:
            kept = [line for line in process.output().splitlines() if not ROUTINE.search(line)]
            parts.append(f"--- {process.log.name}\n" + "\n".join(kept[-lines:]))
        return "\n".join(parts)


def crew_env(
    database_url: str, redis_url: str, prefix: str, workdir: Path, fake: RemoteFakeTwilio
) -> dict[str, str]:
    return service_env(
        database_url, redis_url, prefix, workdir / "var", **CHAOS_SETTINGS, **fake.env()
    )


def start_crew(env: dict[str, str], workdir: Path, beats: int = 1) -> Crew:
    worker = ServiceProcess(celery_worker_argv(), env, workdir / "worker.log")
    worker.start(ready_text="ready.")
    running = [
        ServiceProcess(celery_beat_argv(), env, workdir / f"beat{n}.log").start()
        for n in range(beats)
    ]
    return Crew(worker, running)


def restart_worker(crew: Crew) -> None:
    """SIGKILL the whole worker (main process and pool), then start a fresh one."""
    process = crew.worker.process
    assert process is not None
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    crew.worker.start(ready_text="ready.", timeout=90)


def statuses(engine: Engine) -> Counter[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(MESSAGES.c.status, sa.func.count()).group_by(MESSAGES.c.status)
        )
        return Counter({status: int(n) for status, n in rows})


def wait_settled(engine: Engine, crew: Crew, timeout: float = 180) -> Counter[str]:
    """Until every row is final (or sent); fail with the counts and logs if that never happens."""
    deadline = time.monotonic() + timeout
    while True:
        crew.revive()
        counts = statuses(engine)
        if set(counts) <= set(SETTLED):
            return counts
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not settled after {timeout}s: {dict(counts)}, "
                f"{crew.restarts} restarts\n{crew.digest()}"
            )
        time.sleep(0.5)


def verdict(name: str, engine: Engine, fake: RemoteFakeTwilio) -> dict[str, int]:
    """Sent, duplicates, lost, unknown and dead, printed so a run shows them."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(MESSAGES.c.id, MESSAGES.c.status, MESSAGES.c.reason)
        ).all()
    accepted = fake.sends_by_message_id()
    sent = [r for r in rows if r.status in ("sent", "delivered")]
    figures = {
        "messages": len(rows),
        "sent": len(sent),
        "duplicates": sum(max(count - 1, 0) for count in accepted.values()),
        "lost": sum(1 for r in sent if accepted.get(r.id, 0) == 0)
        + sum(1 for r in rows if r.status not in SETTLED),
        "unknown": sum(1 for r in rows if r.status == "unknown"),
        # Settled from `unknown` by asking the provider: the path a crash mid-send takes.
        "reconciled": sum(1 for r in rows if (r.reason or "").startswith("reconciled:")),
        "dead": sum(1 for r in rows if r.status == "dead"),
        "failed": sum(1 for r in rows if r.status == "failed"),
        "unexplained": sum(
            1 for r in rows if r.status in ("failed", "dead", "skipped") and not r.reason
        ),
        "provider_requests": int(fake.counts()["requests"]),
    }
    print(f"\n[chaos] {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    return figures
