"""Re-planning is a diff against a real database: pending rows follow, sent rows stay."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from reminders.db import session_scope
from reminders.intake.enrollment import PatientInput, TreatmentInput, enroll, replan, replan_patient
from reminders.models import Clinic, Message, Patient, Treatment
from reminders.planning.planner import ClinicPolicy, Course, PatientFacts, plan
from reminders.planning.protocol import ProtocolError, load_protocol
from reminders.planning.row_inserts import json_time
from tests.factories import make_clinic

ENDED = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
NOW = ENDED + timedelta(minutes=5)
PATIENT = PatientInput(
    external_id="p-1",
    first_name="Ana",
    timezone="Europe/Madrid",
    phone="+15555550123",
    email="ana@example.com",
    consent_sms=True,
    consent_email=True,
)
TREATMENT = TreatmentInput(external_id="t-1", ended_at=ENDED, session_number=1, sessions_planned=3)


def apply(
    engine: Engine,
    patient: PatientInput = PATIENT,
    treatment: TreatmentInput = TREATMENT,
    now: datetime = NOW,
) -> None:
    with session_scope(engine) as session:
        clinic = session.get(Clinic, "clinic-a")
        assert clinic is not None
        enroll(session, clinic, patient, treatment, load_protocol(), now)


def rows(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every message by '<treatment>:<step>:<channel>', as plain values."""
    with Session(engine) as session:
        found = session.exec(select(Message).order_by(col(Message.id))).all()
        return {
            f"{m.treatment_id}:{m.step_key}:{m.channel}": m.model_dump(exclude={"id"})
            for m in found
        }


def by_step(engine: Engine, status: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (row["step_key"], row["channel"]): row
        for row in rows(engine).values()
        if status is None or row["status"] == status
    }


def mark_sent(engine: Engine, step: str, channel: str) -> None:
    with session_scope(engine) as session:
        message = session.exec(
            select(Message).where(Message.step_key == step, Message.channel == channel)
        ).one()
        message.status, message.sent_at, message.provider_id = "sent", NOW, "SM1"
        session.add(message)


def test_reschedule_moves_pending_prompts_and_keeps_sent_ones(any_engine: Engine) -> None:
    make_clinic(any_engine)
    apply(any_engine)
    mark_sent(any_engine, "first_night", "email")
    before = by_step(any_engine)
    apply(any_engine, treatment=replace(TREATMENT, ended_at=ENDED + timedelta(days=2)))
    after = by_step(any_engine)
    assert after[("first_night", "email")] == before[("first_night", "email")]
    for slot in [("day_1", "sms"), ("day_3", "email"), ("book_next_session", "sms")]:
        assert after[slot]["status"] == "pending"
        assert after[slot]["due_at"] - before[slot]["due_at"] == timedelta(days=2)
        assert after[slot]["next_attempt_at"] == after[slot]["due_at"]
    assert set(after) == set(before)


def test_cancelling_the_treatment_cancels_every_pending_prompt(any_engine: Engine) -> None:
    make_clinic(any_engine)
    apply(any_engine)
    mark_sent(any_engine, "first_night", "sms")
    with session_scope(any_engine) as session:
        treatment = session.exec(select(Treatment)).one()
        treatment.cancelled_at = NOW
        patient = session.exec(select(Patient)).one()
        clinic = session.get(Clinic, "clinic-a")
        assert clinic is not None
        replan(session, treatment, patient, clinic, load_protocol(), NOW)
    after = by_step(any_engine)
    assert after.pop(("first_night", "sms"))["status"] == "sent"
    assert {row["status"] for row in after.values()} == {"cancelled"}
    assert {row["reason"] for row in after.values()} == {"treatment cancelled"}


def test_booking_the_next_session_cancels_the_nudges_and_adds_session_reminders(
    any_engine: Engine,
) -> None:
    make_clinic(any_engine)
    apply(any_engine)
    assert ("book_next_session", "sms") in by_step(any_engine, "pending")
    booked = replace(TREATMENT, next_session_at=ENDED + timedelta(days=35))
    apply(any_engine, treatment=booked)
    after = by_step(any_engine)
    for channel in ("sms", "email"):
        for step in ("book_next_session", "book_next_session_again"):
            assert after[(step, channel)]["status"] == "cancelled"
            assert after[(step, channel)]["reason"] == "next session booked or no sessions remain"
        week_before = after[("session_week_before", channel)]
        assert week_before["status"] == "pending"
        assert week_before["due_at"] == datetime(2026, 6, 29, 8, 0, tzinfo=UTC)  # 10:00 CEST


def test_moving_then_cancelling_the_next_session_retimes_then_restores_the_nudges(
    any_engine: Engine,
) -> None:
    make_clinic(any_engine)
    apply(any_engine, treatment=replace(TREATMENT, next_session_at=ENDED + timedelta(days=35)))
    first = by_step(any_engine)[("session_day_before", "email")]["due_at"]
    apply(any_engine, treatment=replace(TREATMENT, next_session_at=ENDED + timedelta(days=42)))
    assert by_step(any_engine)[("session_day_before", "email")]["due_at"] == first + timedelta(7)
    apply(any_engine)
    after = by_step(any_engine)
    assert after[("session_day_before", "email")]["status"] == "cancelled"
    assert after[("session_day_before", "email")]["reason"] == "no next session booked"
    assert after[("book_next_session", "sms")]["status"] == "pending"


def test_applying_the_same_change_twice_changes_nothing(any_engine: Engine) -> None:
    make_clinic(any_engine)
    apply(any_engine)
    booked = replace(TREATMENT, next_session_at=ENDED + timedelta(days=35))
    apply(any_engine, treatment=booked)
    once = rows(any_engine)
    apply(any_engine, treatment=booked, now=NOW + timedelta(minutes=1))
    assert rows(any_engine) == once


def test_patient_zone_and_consent_changes_retime_and_skip_pending_rows(any_engine: Engine) -> None:
    make_clinic(any_engine)
    apply(any_engine)
    madrid = by_step(any_engine)[("day_7", "email")]["due_at"]
    apply(any_engine, patient=replace(PATIENT, timezone="Asia/Kolkata"))
    assert by_step(any_engine)[("day_7", "email")]["due_at"] == madrid - timedelta(hours=3.5)
    apply(any_engine, patient=replace(PATIENT, consent_sms=False))
    sms = [row for (_, channel), row in by_step(any_engine).items() if channel == "sms"]
    assert {row["status"] for row in sms} == {"skipped"}
    assert {row["reason"] for row in sms} == {"no consent or contact for sms"}
    apply(any_engine)
    assert by_step(any_engine)[("day_3", "sms")]["status"] == "pending"


def test_a_second_treatment_shares_the_patients_sms_caps(any_engine: Engine) -> None:
    make_clinic(any_engine)
    apply(any_engine)
    apply(any_engine, treatment=replace(TREATMENT, external_id="t-2"))
    texts = [
        row["due_at"]
        for row in rows(any_engine).values()
        if row["channel"] == "sms" and row["status"] == "pending"
    ]
    days = [when.date() for when in texts]
    assert len(days) == len(set(days))
    second = {key: row for key, row in rows(any_engine).items() if row["channel"] == "sms"}
    assert any(row["status"] == "skipped" for row in second.values())


def test_clinic_overrides_are_applied_and_recorded_in_the_protocol_version(
    any_engine: Engine,
) -> None:
    make_clinic(any_engine, protocol_overrides={"steps": {"day_7": {"enabled": False}}})
    apply(any_engine)
    after = by_step(any_engine)
    assert after[("day_7", "email")]["status"] == "skipped"
    versions = {row["protocol_version"] for row in after.values()}
    assert len(versions) == 1 and "+" in versions.pop()


def test_a_retrying_row_keeps_its_backoff_when_nothing_changed(any_engine: Engine) -> None:
    make_clinic(any_engine)
    apply(any_engine)
    later = NOW + timedelta(minutes=7)
    with session_scope(any_engine) as session:
        message = session.exec(
            select(Message).where(Message.step_key == "first_night", Message.channel == "sms")
        ).one()
        message.attempts, message.next_attempt_at = 1, later
        session.add(message)
    apply(any_engine)
    assert by_step(any_engine)[("first_night", "sms")]["next_attempt_at"] == later


def test_a_row_an_operator_cancelled_is_never_revived_by_a_replan(any_engine: Engine) -> None:
    make_clinic(any_engine)
    apply(any_engine)
    with session_scope(any_engine) as session:
        message = session.exec(
            select(Message).where(Message.step_key == "day_3", Message.channel == "email")
        ).one()
        message.status, message.reason = "cancelled", "cancelled by operator ops@clinic"
        session.add(message)
    apply(any_engine, treatment=replace(TREATMENT, ended_at=ENDED + timedelta(hours=1)))
    assert by_step(any_engine)[("day_3", "email")]["status"] == "cancelled"


def test_after_a_series_of_changes_the_rows_equal_a_fresh_plan(any_engine: Engine) -> None:
    make_clinic(any_engine)
    apply(any_engine)
    final = replace(TREATMENT, ended_at=ENDED + timedelta(hours=20), next_session_at=None)
    apply(any_engine, treatment=replace(TREATMENT, next_session_at=ENDED + timedelta(days=30)))
    apply(any_engine, patient=replace(PATIENT, timezone="America/New_York"), treatment=final)
    fresh = plan(
        final.ended_at,
        PatientFacts("America/New_York"),
        load_protocol(),
        ClinicPolicy(),
        Course(1, 3),
        now=NOW,
    )
    expected = {(m.key, m.channel): m.due_at for m in fresh if m.status == "planned"}
    pending = {slot: row["due_at"] for slot, row in by_step(any_engine, "pending").items()}
    assert pending == expected


def test_invalid_clinic_overrides_stop_enrollment_naming_clinic_step_and_field(
    any_engine: Engine,
) -> None:
    make_clinic(any_engine, protocol_overrides={"steps": {"day_3": {"at": "noonish"}}})
    with pytest.raises(ProtocolError, match="clinic 'clinic-a' protocol_overrides: step 'day_3'"):
        apply(any_engine)
    assert rows(any_engine) == {}


def test_opting_out_skips_pending_texts_and_opting_back_in_restores_the_valid_ones(
    any_engine: Engine,
) -> None:
    make_clinic(any_engine)
    apply(any_engine)

    def replan_after(opted_out_at: datetime | None) -> None:
        with session_scope(any_engine) as session:
            patient = session.exec(select(Patient)).one()
            patient.sms_opted_out_at = opted_out_at
            clinic = session.get(Clinic, "clinic-a")
            assert clinic is not None
            replan_patient(session, patient, clinic, load_protocol(), NOW)

    replan_after(NOW)
    sms = [row for (_, channel), row in by_step(any_engine).items() if channel == "sms"]
    assert {row["status"] for row in sms} == {"skipped"}
    replan_after(None)
    assert by_step(any_engine)[("day_3", "sms")]["status"] == "pending"
    assert by_step(any_engine)[("day_3", "email")]["status"] == "pending"


def test_shortening_the_course_cancels_nudges_and_plans_the_results_check_in(
    any_engine: Engine,
) -> None:
    make_clinic(any_engine)
    apply(any_engine)
    with session_scope(any_engine) as session:
        treatment = session.exec(select(Treatment)).one()
        treatment.sessions_planned = 1  # course shortened: no more booking nudges
        patient = session.exec(select(Patient)).one()
        clinic = session.get(Clinic, "clinic-a")
        assert clinic is not None
        replan(session, treatment, patient, clinic, load_protocol(), NOW)
    after = by_step(any_engine)
    assert after[("book_next_session", "sms")]["status"] == "cancelled"
    assert after[("book_next_session", "sms")]["reason"] == (
        "next session booked or no sessions remain"
    )
    assert after[("results_check_in", "email")]["status"] == "pending"


def test_new_rows_are_stored_in_utc_and_in_order_whatever_the_database_session_zone(
    engine: Engine,
) -> None:
    make_clinic(engine)
    with session_scope(engine) as session:
        if engine.dialect.name == "postgresql":
            # A server-side zone conversion would shift every stored time by hours here.
            session.connection().exec_driver_sql("SET LOCAL TIME ZONE 'America/New_York'")
        clinic = session.get(Clinic, "clinic-a")
        assert clinic is not None
        _patient, treatment = enroll(
            session, clinic, PATIENT, TREATMENT, load_protocol(clinic.protocol), NOW
        )
        treatment_id = treatment.id
    expected = plan(
        ENDED,
        PatientFacts("Europe/Madrid", "en", frozenset({"sms", "email"})),
        load_protocol(),
        ClinicPolicy(),
        Course(1, 3),
        now=NOW,
    )
    with Session(engine) as session:
        stored = session.exec(
            select(Message).where(Message.treatment_id == treatment_id).order_by(col(Message.id))
        ).all()
    assert [(m.step_key, m.channel, m.due_at) for m in stored] == [
        (p.key, p.channel, p.due_at) for p in expected
    ]


def test_times_in_a_document_of_new_rows_are_written_as_their_utc_wall_time() -> None:
    new_york = datetime(2026, 3, 8, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    assert json_time(new_york).startswith("2026-03-08T06:30:00")
    assert json_time(new_york.astimezone(UTC)).startswith("2026-03-08T06:30:00")
    with pytest.raises(ValueError, match="naive"):
        json_time(datetime(2026, 3, 8, 1, 30))


def test_enrolling_a_new_patient_on_postgresql_reads_no_outbox_rows(engine: Engine) -> None:
    make_clinic(engine)
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    def outbox_reads() -> int:
        read = sum("FROM treatment LEFT OUTER JOIN message" in s for s in statements)
        statements.clear()
        return read

    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        apply(engine)  # a new patient: nothing of theirs to read yet
        first = outbox_reads()
        apply(engine, treatment=replace(TREATMENT, external_id="t-2"))  # known: read it all
        second = outbox_reads()
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    # SQLite cannot tell an inserted row from an updated one, so there it always reads.
    assert (first, second) == ((0 if engine.dialect.name == "postgresql" else 1), 1)
    with Session(engine) as session:
        planned = session.exec(select(Message.treatment_id).distinct()).all()
    assert len(planned) == 2  # both treatments were planned
