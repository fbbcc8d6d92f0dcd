"""A patient and a treatment as a clinic describes them (event, CSV row or demo), as models."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from reminders.intake.enrollment import PatientInput, TreatmentInput
from reminders.intake.fields import (
    Area,
    Email,
    ExternalId,
    FirstName,
    Language,
    Model,
    Moment,
    NeedleDepth,
    Phone,
    Sessions,
    Timezone,
)

# Left out, these keep what is stored; given as null (or "", or false) they are withdrawn.
WITHDRAWABLE = frozenset({"phone", "email", "consent_sms", "consent_email"})
# A session cannot have ended later than this from now; a future session is appointment.booked.
FUTURE_TOLERANCE = timedelta(minutes=15)


class Consent(Model):
    """Consent per channel: left out keeps what is stored, false or null withdraws it."""

    sms: bool | None = None
    email: bool | None = None


class PatientChange(Model):
    """The patient fields a clinic sent (patient.updated); those left out keep what is stored."""

    external_id: ExternalId
    first_name: FirstName | None = None
    phone: Phone | None = None
    email: Email | None = None
    timezone: Timezone | None = None
    locale: Language | None = None
    consent: Consent = Field(default_factory=Consent)

    def values(self) -> dict[str, Any]:
        """The patient columns to set; contact and consent sent as null (or false) withdrawn."""
        sent = {name: getattr(self, name) for name in self.model_fields_set}
        sent |= {
            f"consent_{name}": bool(getattr(self.consent, name))
            for name in self.consent.model_fields_set
        }
        return {
            name: value
            for name, value in sent.items()
            if name not in ("external_id", "consent")
            and (value is not None or name in WITHDRAWABLE)
        }


class PatientDetails(PatientChange):
    """A whole patient, as treatment.completed or a CSV row carries it."""

    first_name: FirstName
    timezone: Timezone

    def input(self) -> PatientInput:
        """The patient to upsert; what was left out is named so a known patient keeps it."""
        values = self.values()
        omitted = frozenset(WITHDRAWABLE - values.keys())
        return PatientInput(external_id=self.external_id, omitted=omitted, **values)


class TreatmentDetails(Model):
    """A treatment session as treatment.completed or a CSV row carries it, ended by `now`."""

    external_id: ExternalId
    ended_at: Moment
    area: Area = "face"
    needle_depth_mm: NeedleDepth | None = None
    sessions_planned: Sessions | None = None  # before session_number, which is checked against it
    session_number: Sessions = 1
    next_session_at: Moment | None = None

    @field_validator("ended_at")
    @classmethod
    def _has_happened(cls, ended_at: datetime, info: ValidationInfo) -> datetime:
        now = (info.context or {}).get("now")
        if now is not None and ended_at > now + FUTURE_TOLERANCE:
            raise PydanticCustomError(
                "future",
                f"more than {FUTURE_TOLERANCE.seconds // 60} minutes in the future: a session "
                "that has not happened yet is sent as appointment.booked",
            )
        return ended_at

    @field_validator("session_number")
    @classmethod
    def _within_course(cls, number: int, info: ValidationInfo) -> int:
        planned = info.data.get("sessions_planned")
        if planned is not None and number > planned:
            raise PydanticCustomError("course", "must not exceed sessions_planned")
        return number

    @field_validator("next_session_at")
    @classmethod
    def _after_the_session(cls, next_at: datetime | None, info: ValidationInfo) -> datetime | None:
        ended = info.data.get("ended_at")
        if next_at is not None and ended is not None and next_at <= ended:
            raise PydanticCustomError("order", "must be after ended_at")
        return next_at

    def input(self) -> TreatmentInput:
        """The treatment to upsert; a course's size defaults to this session's number."""
        planned = self.sessions_planned or self.session_number
        return TreatmentInput(**{**dict(self), "sessions_planned": planned})
