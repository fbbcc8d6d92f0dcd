"""Clinic webhook events: validate a JSON body into plain values, listing every problem."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reminders.intake import fields as f
from reminders.intake.enrollment import PatientInput, TreatmentInput
from reminders.intake.fields import Problems
from reminders.intake.inputs import patient_input, patient_values, treatment_input

EVENT_TYPES = (
    "treatment.completed",
    "treatment.cancelled",
    "appointment.booked",
    "appointment.cancelled",
    "patient.updated",
    "patient.opted_out",
)
OPT_OUT_CHANNELS = ("sms", "email", "all")
DATA_FIELDS = {
    "treatment.completed": ("patient", "treatment"),
    "treatment.cancelled": ("treatment_id",),
    "appointment.booked": ("patient_id", "treatment_id", "next_session_at"),
    "appointment.cancelled": ("patient_id", "treatment_id"),
    "patient.updated": ("patient",),
    "patient.opted_out": ("patient_id", "channel"),
}


@dataclass(frozen=True)
class PatientChange:
    """A partial patient update: only the fields the clinic sent (None: leave as is)."""

    external_id: str
    values: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Event:
    """A validated event; which fields are set depends on the type."""

    type: str
    patient_id: str | None = None
    treatment_id: str | None = None
    patient: PatientInput | None = None
    treatment: TreatmentInput | None = None
    change: PatientChange | None = None
    next_session_at: datetime | None = None
    channel: str = "all"


class InvalidEventError(ValueError):
    """The body failed validation; `problems` lists every {field, problem}."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['problem']}" for p in problems))
        self.problems = problems


def parse_event(body: Any, region: str, now: datetime) -> Event:
    """The event a body describes (received at `now`), or InvalidEventError naming every problem."""
    problems = Problems()
    if not isinstance(body, dict):
        raise InvalidEventError([{"field": "body", "problem": "must be a JSON object"}])
    kind = body.get("type")
    data = body.get("data")
    if kind not in EVENT_TYPES:
        problems.add("type", f"one of {', '.join(EVENT_TYPES)}")
    if not isinstance(data, dict):
        problems.add("data", "required, a JSON object")
    if problems or not isinstance(data, dict):
        raise InvalidEventError(problems.items)
    f.no_extra_keys(data, DATA_FIELDS[str(kind)], "data.", problems)
    event = PARSERS[str(kind)](data, region, problems, now)
    if problems:
        raise InvalidEventError(problems.items)
    return event


def _completed(data: dict[str, Any], region: str, problems: Problems, now: datetime) -> Event:
    patient = patient_input(data.get("patient"), region, problems, "data.patient.")
    treatment = treatment_input(data.get("treatment"), problems, "data.treatment.", now)
    return Event("treatment.completed", patient=patient, treatment=treatment)


def _treatment_cancelled(
    data: dict[str, Any], region: str, problems: Problems, now: datetime
) -> Event:
    treatment_id = f.text(data.get("treatment_id"), "data.treatment_id", problems, 128, True)
    return Event("treatment.cancelled", treatment_id=treatment_id)


def _appointment(kind: str) -> Any:
    def parse(data: dict[str, Any], region: str, problems: Problems, now: datetime) -> Event:
        patient_id = f.text(data.get("patient_id"), "data.patient_id", problems, 128, True)
        treatment_id = f.text(data.get("treatment_id"), "data.treatment_id", problems, 128, False)
        at = None
        if kind == "appointment.booked":
            at = f.moment(data.get("next_session_at"), "data.next_session_at", problems, True)
        return Event(kind, patient_id=patient_id, treatment_id=treatment_id, next_session_at=at)

    return parse


def _patient_updated(data: dict[str, Any], region: str, problems: Problems, now: datetime) -> Event:
    patient = data.get("patient")
    if not isinstance(patient, dict):
        problems.add("data.patient", "required, a JSON object")
        return Event("patient.updated")
    external_id = f.text(
        patient.get("external_id"), "data.patient.external_id", problems, 128, True
    )
    values = patient_values(patient, region, problems, "data.patient.")
    change = PatientChange(external_id or "", tuple(values.items()))
    return Event("patient.updated", patient_id=external_id, change=change)


def _opted_out(data: dict[str, Any], region: str, problems: Problems, now: datetime) -> Event:
    patient_id = f.text(data.get("patient_id"), "data.patient_id", problems, 128, True)
    channel = f.choice(data.get("channel"), "data.channel", problems, OPT_OUT_CHANNELS, "all")
    return Event("patient.opted_out", patient_id=patient_id, channel=channel)


PARSERS = {
    "treatment.completed": _completed,
    "treatment.cancelled": _treatment_cancelled,
    "appointment.booked": _appointment("appointment.booked"),
    "appointment.cancelled": _appointment("appointment.cancelled"),
    "patient.updated": _patient_updated,
    "patient.opted_out": _opted_out,
}
