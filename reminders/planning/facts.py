"""PURE: the planner's inputs read off stored rows, and the plan made from scratch from them."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from reminders.models import Clinic, Patient, Treatment
from reminders.planning.planner import ClinicPolicy, Course, PatientFacts, PlannedMessage, plan
from reminders.planning.protocol import Protocol


def facts_of(patient: Patient) -> PatientFacts:
    """The channels a patient can be written to now: consent, contact and no opt-out."""
    channels = set()
    if patient.consent_sms and patient.phone and patient.sms_opted_out_at is None:
        channels.add("sms")
    if patient.consent_email and patient.email and patient.email_opted_out_at is None:
        channels.add("email")
    return PatientFacts(
        timezone=patient.timezone, locale=patient.locale, channels=frozenset(channels)
    )


def policy_of(clinic: Clinic) -> ClinicPolicy:
    """A clinic's sending window and caps."""
    return ClinicPolicy(
        window_start=clinic.window_start,
        window_end=clinic.window_end,
        sms_per_day=clinic.sms_per_day,
        sms_per_week=clinic.sms_per_week,
    )


def course_of(treatment: Treatment) -> Course:
    """Where a treatment sits in its course."""
    return Course(
        session_number=treatment.session_number,
        sessions_planned=treatment.sessions_planned,
        next_session_at=treatment.next_session_at,
    )


def fresh_plan(
    treatment: Treatment,
    patient: Patient,
    clinic: Clinic,
    protocol: Protocol,
    now: datetime | None = None,
    other_sms: Iterable[datetime] = (),
    settled: Collection[tuple[str, str]] = frozenset(),
) -> list[PlannedMessage]:
    """What the plan would be if made from scratch now (empty for a cancelled treatment)."""
    if treatment.cancelled_at is not None:
        return []
    return plan(
        treatment.ended_at,
        facts_of(patient),
        protocol,
        policy_of(clinic),
        course_of(treatment),
        other_sms=other_sms,
        settled=settled,
        now=now,
    )
