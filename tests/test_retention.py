"""Retention moves finished treatments' messages to history, without personal data."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.models import AUDIT, CLINICS, HISTORY, MESSAGES
from reminders.ops import audit, retention
from reminders.ops.listing import patient_messages
from reminders.ops.overview import status_counts
from reminders.outbox import lifecycle as lc
from tests.factories import make_patient_with_treatment
from tests.history_helpers import full_count, sessions
from tests.opsdata import NOW, Outbox

OLD = NOW - timedelta(days=200)  # beyond the default 180 days


def clock() -> datetime:
    return NOW


def run(engine: Engine, clinic_id: str | None = None, dry_run: bool = False, batch: int = 200):
    steps = retention.run(sessions(engine), clock, "tester", clinic_id, dry_run, batch)
    return list(steps)


def ids(engine: Engine, table: sa.Table) -> set[int]:
    with engine.connect() as connection:
        return set(connection.execute(sa.select(table.c.id)).scalars())


def old_finished(box: Outbox) -> list[int]:
    return [
        box.add(lc.DELIVERED, sent_digest="ab" * 32, updated_at=OLD, provider_id="SM1"),
        box.add(lc.CANCELLED, "email", updated_at=OLD, reason="treatment cancelled"),
        box.add(lc.SENT, last_error="21211 +15555550123 invalid", updated_at=OLD),
    ]


def test_an_old_finished_treatment_moves_to_history_without_personal_data(
    engine: Engine,
) -> None:
    moved = old_finished(Outbox(engine))
    before = full_count(engine)
    steps = run(engine)
    assert steps[-1][1].moved == 3 and steps[-1][0] is not None
    assert ids(engine, MESSAGES) == set() and ids(engine, HISTORY) == set(moved)
    with engine.connect() as connection:
        kept = connection.execute(sa.select(HISTORY).where(HISTORY.c.id == moved[0])).one()
    assert (kept.status, kept.provider_id, kept.channel) == (lc.DELIVERED, "SM1", "sms")
    assert not {"sent_digest", "last_error", "reason", "idempotency_key"} & set(HISTORY.c.keys())
    assert full_count(engine) == before
    with Session(engine) as session:
        assert status_counts(session) == before


def test_pending_in_flight_problem_and_recent_rows_are_never_touched(engine: Engine) -> None:
    kept: list[int] = []
    for status in (lc.PENDING, lc.CLAIMED, lc.SENDING, lc.FAILED, lc.DEAD, lc.UNKNOWN):
        box = Outbox(engine, f"c-{status}", f"p-{status}")
        old_finished(box)
        kept.append(box.add(status, updated_at=OLD))
    recent = Outbox(engine, "c-recent", "p-recent")
    kept += [recent.add(lc.DELIVERED, updated_at=OLD), recent.add(lc.SENT, updated_at=NOW)]
    before = ids(engine, MESSAGES)
    run(engine)
    assert ids(engine, MESSAGES) == before and ids(engine, HISTORY) == set()
    assert set(kept) <= before


def test_each_clinic_keeps_its_own_retention(engine: Engine) -> None:
    a = old_finished(Outbox(engine, "clinic-a", "p-a"))
    b = old_finished(Outbox(engine, "clinic-b", "p-b"))
    with engine.begin() as connection:
        connection.execute(
            CLINICS.update().where(CLINICS.c.id == "clinic-b").values(retention_days=365)
        )
    run(engine)
    assert ids(engine, HISTORY) == set(a) and ids(engine, MESSAGES) == set(b)


def test_a_dry_run_moves_nothing_and_says_what_it_would(engine: Engine) -> None:
    old_finished(Outbox(engine))
    steps = run(engine, dry_run=True)
    assert sum(done.moved for _, done in steps) == 3
    assert ids(engine, HISTORY) == set() and len(ids(engine, MESSAGES)) == 3
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(AUDIT)).scalar() == 0


def test_a_run_is_audited_resumable_and_keeps_audit_entries_valid(engine: Engine) -> None:
    box = Outbox(engine)
    first = old_finished(box)
    make_patient_with_treatment(engine, "clinic-a", "p-2")  # a second treatment, no messages
    with Session(engine) as session:
        audit.record(session, "ann", "retry", clinic_id="clinic-a", message_id=first[0])
        session.commit()
    steps = retention.run(sessions(engine), clock, "tester", batch=1)
    next(steps)  # one batch, then the process stops
    with engine.connect() as connection:
        query = "SELECT last_treatment_id, finished_at FROM retentionrun"
        runs = connection.execute(sa.text(query))
        assert [(r[0], r[1]) for r in runs] == [(box.treatment.id, None)]
    run(engine, batch=1)  # a new run resumes after the cursor and finishes
    with engine.connect() as connection:
        entries = connection.execute(
            sa.select(AUDIT.c.action, AUDIT.c.detail, AUDIT.c.message_id)
        ).all()
    assert ("retention", "moved 3 messages of 1 finished treatments to history", None) in entries
    named = {e.message_id for e in entries if e.message_id is not None}
    assert named and named <= ids(engine, MESSAGES) | ids(engine, HISTORY)


def test_the_patient_timeline_shows_history_rows(engine: Engine) -> None:
    box = Outbox(engine)
    moved = old_finished(box)
    live = box.add(lc.PENDING, due_at=NOW + timedelta(days=1))
    run(engine)  # the pending row keeps the treatment in `message`: nothing moves
    assert ids(engine, HISTORY) == set()
    with engine.begin() as connection:
        connection.execute(
            MESSAGES.update()
            .where(MESSAGES.c.id == live)
            .values(status=lc.CANCELLED, updated_at=OLD)
        )
    run(engine)
    with Session(engine) as session:
        rows = patient_messages(session, box.patient.id or 0)
    assert {r.id for r in rows} == {*moved, live}
    assert all(r.contact == "(history)" for r in rows)
