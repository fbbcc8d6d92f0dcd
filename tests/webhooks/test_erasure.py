"""Erasure on request: no table keeps the patient's number, email or name; others untouched."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from reminders.models import AUDIT, EVENTS, MESSAGES, PATIENTS, REPLIES, InboundReply
from reminders.ops import audit
from reminders.outbox import lifecycle as lc
from tests.factories import make_clinic, make_patient_with_treatment
from tests.webhooks.conftest import CLINIC, Hooks, treatment_completed

NAME, PHONE, EMAIL = "Zelphine", "+34612345678", "zelphine@example.com"
NOW = datetime(2030, 5, 2, 12, 0, tzinfo=UTC)
CLUES = (NAME, PHONE, EMAIL, "612345678", "612 345 678")


def enroll(hooks: Hooks, patient: str = "p-1") -> None:
    data = treatment_completed(
        patient, patient__first_name=NAME, patient__email=EMAIL, patient__phone="612 345 678"
    )
    assert hooks.post_event("treatment.completed", data).status_code == 202


def leave_traces(engine: Engine, clinic_id: str, patient_id: int) -> None:
    """What a patient leaves elsewhere: a reply with an alert due, an event, an audit entry."""
    with Session(engine) as session:
        session.add(
            InboundReply(
                clinic_id=clinic_id,
                patient_id=patient_id,
                from_number=PHONE,
                body=f"{NAME} here, my skin burns, call {PHONE}",
                kind="free_text",
                alert_due_at=NOW,
            )
        )
        session.add(InboundReply(from_number=PHONE, body="unrouted", kind="free_text"))
        audit.record(session, "ann", "edit", clinic_id=clinic_id, after={"phone": PHONE})
        session.commit()
    with engine.begin() as connection:
        connection.execute(
            EVENTS.insert().values(
                clinic_id=clinic_id,
                event_type="patient.replied",
                webhook_id=f"msg_{patient_id}",
                payload={"patient": {"first_name": NAME, "phone": PHONE}},
                status="pending",
                attempts=0,
                created_at=NOW,
            )
        )
        connection.execute(
            MESSAGES.update()
            .where(MESSAGES.c.patient_id == patient_id)
            .values(sent_digest="f" * 64, last_error=f"21211 {PHONE} is not valid")
        )


def holders(engine: Engine, skip_clinic: str | None = None) -> list[str]:
    """table.column of every text or JSON value that still holds a clue (one clinic's aside)."""
    found = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            columns = [
                c
                for c in table.columns
                if isinstance(c.type, sa.String | sa.Text | sa.JSON)
                or c.type.__class__.__name__ in ("AutoString", "JSON")
            ]
            rows = connection.execute(sa.select(table)).mappings().all()
            for row in rows:
                if skip_clinic is not None and row.get("clinic_id") == skip_clinic:
                    continue
                for column in columns:
                    text = json.dumps(row[column.name], default=str)
                    if any(clue in text for clue in CLUES):
                        found.append(f"{table.name}.{column.name}")
    return found


def test_patient_erased_removes_every_trace_and_cancels_what_is_pending(hooks: Hooks) -> None:
    enroll(hooks)
    patient = hooks.patient()
    assert patient.id is not None
    leave_traces(hooks.engine, CLINIC, patient.id)
    assert holders(hooks.engine)  # the check can find them

    answer = hooks.post_event("patient.erased", {"patient_id": "p-1"})

    assert answer.status_code == 202, answer.text
    assert holders(hooks.engine) == []
    with hooks.engine.connect() as connection:
        statuses = set(
            connection.execute(
                sa.select(MESSAGES.c.status).where(MESSAGES.c.patient_id == patient.id)
            ).scalars()
        )
        entry = connection.execute(
            sa.select(AUDIT.c.actor, AUDIT.c.detail, AUDIT.c.target).where(
                AUDIT.c.action == "erase"
            )
        ).one()
        alert_due = connection.execute(sa.select(REPLIES.c.alert_due_at)).scalars().all()
    assert statuses == {lc.CANCELLED}
    assert entry.target == f"patient:{patient.id}" and entry.actor == f"webhook:{CLINIC}"
    assert alert_due == [None, None]


def test_erasing_a_patient_leaves_another_clinics_patient_with_the_same_number(
    hooks: Hooks,
) -> None:
    enroll(hooks)
    make_clinic(hooks.engine, "other")
    theirs, _ = make_patient_with_treatment(hooks.engine, "other", "p-1")
    assert theirs.id is not None
    with hooks.engine.begin() as connection:
        connection.execute(
            PATIENTS.update()
            .where(PATIENTS.c.id == theirs.id)
            .values(first_name=NAME, phone=PHONE, email=EMAIL)
        )
    leave_traces(hooks.engine, "other", theirs.id)

    assert hooks.post_event("patient.erased", {"patient_id": "p-1"}).status_code == 202

    # The reply no clinic received may be the other patient's: it stays, theirs as it was.
    assert holders(hooks.engine, skip_clinic="other") == ["inboundreply.from_number"]
    with hooks.engine.connect() as connection:
        kept = connection.execute(
            sa.text("SELECT first_name, phone, email FROM patient WHERE clinic_id = 'other'")
        ).one()
        bodies = (
            connection.execute(sa.select(REPLIES.c.body).where(REPLIES.c.patient_id == theirs.id))
            .scalars()
            .all()
        )
    assert tuple(kept) == (NAME, PHONE, EMAIL)
    assert bodies == [f"{NAME} here, my skin burns, call {PHONE}"]


def test_an_unknown_patient_is_refused_naming_the_field(hooks: Hooks) -> None:
    answer = hooks.post_event("patient.erased", {"patient_id": "nobody"})
    assert answer.status_code in (404, 422)
    assert "patient_id" in answer.text
