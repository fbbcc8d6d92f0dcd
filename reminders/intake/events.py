"""Clinic webhook events: a union of models on `type`; a bad body lists every problem."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, TypeAdapter, ValidationError

from reminders.intake.fields import ExternalId, Model, Moment, problems
from reminders.intake.inputs import PatientChange, PatientDetails, TreatmentDetails


class Completed(Model):
    """A session ended: the patient and the treatment, created or updated."""

    patient: PatientDetails
    treatment: TreatmentDetails


class TreatmentCompleted(Model):
    """Creates or updates the patient and the treatment, and plans the prompts."""

    type: Literal["treatment.completed"]
    data: Completed


class TreatmentRef(Model):
    """The treatment an event is about."""

    treatment_id: ExternalId


class TreatmentCancelled(Model):
    """Entered in error: the treatment's pending prompts are cancelled."""

    type: Literal["treatment.cancelled"]
    data: TreatmentRef


class Appointment(Model):
    """A patient's course; the latest treatment not cancelled unless one is named."""

    patient_id: ExternalId
    treatment_id: ExternalId | None = None


class Booking(Appointment):
    """When the next session is."""

    next_session_at: Moment


class AppointmentBooked(Model):
    """Sets the next session: the booking prompt goes, pre-session prompts come."""

    type: Literal["appointment.booked"]
    data: Booking


class AppointmentCancelled(Model):
    """Clears the next session: the booking prompt comes back."""

    type: Literal["appointment.cancelled"]
    data: Appointment


class Update(Model):
    """The patient fields to change."""

    patient: PatientChange


class PatientUpdated(Model):
    """Contact, time zone, locale or consent changed: every treatment is re-planned."""

    type: Literal["patient.updated"]
    data: Update


class OptOut(Model):
    """Which channel the patient stopped."""

    patient_id: ExternalId
    channel: Literal["sms", "email", "all"] = "all"


class PatientOptedOut(Model):
    """Stops that channel for the patient."""

    type: Literal["patient.opted_out"]
    data: OptOut


class ErasureRequest(Model):
    """The patient who asked for their personal data to be erased."""

    patient_id: ExternalId


class PatientErased(Model):
    """Removes the patient's personal data everywhere and cancels what is pending."""

    type: Literal["patient.erased"]
    data: ErasureRequest


Event = (
    TreatmentCompleted
    | TreatmentCancelled
    | AppointmentBooked
    | AppointmentCancelled
    | PatientUpdated
    | PatientOptedOut
    | PatientErased
)
ClinicEvent = Annotated[Event, Field(discriminator="type")]
EVENTS: TypeAdapter[Event] = TypeAdapter(ClinicEvent)
EVENT_TYPES: tuple[str, ...] = tuple(
    get_args(model.model_fields["type"].annotation)[0] for model in get_args(Event)
)


class InvalidEventError(ValueError):
    """The body failed validation; `problems` lists every {field, problem}."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['problem']}" for p in problems))
        self.problems = problems


def parse_event(body: bytes | dict[str, Any], region: str, now: datetime) -> Event:
    """The event a body (JSON bytes or a dict) describes, received at `now`.

    National phone numbers are read in `region`; InvalidEventError names every problem.
    """
    context = {"region": region, "now": now}
    try:
        if isinstance(body, bytes):
            return EVENTS.validate_json(utf8(body), context=context)
        return EVENTS.validate_python(body, context=context)
    except ValidationError as exc:
        # The union's tag (the event type) is not a field of the body: leave it out of paths.
        raise InvalidEventError(problems(exc, skip=EVENT_TYPES.__contains__)) from None


def utf8(body: bytes) -> str:
    """The body as text; InvalidEventError if it is not UTF-8 (as JSON must be, RFC 8259)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 (byte {exc.start}): JSON must be sent as UTF-8"
        raise InvalidEventError([{"field": "body", "problem": problem}]) from None
