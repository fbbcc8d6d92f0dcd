"""Apply a clinic's facts: upsert patient and treatment, then re-plan their messages as a diff."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from reminders.consent.stops import inherit_stop, stop_elsewhere
from reminders.models import Clinic, Patient, Treatment
from reminders.planning.facts import course_of, facts_of, fresh_plan, policy_of
from reminders.planning.plandiff import RowChange, diff_plan
from reminders.planning.protocol import Protocol
from reminders.planning.replan import replan, replan_patient

__all__ = [
    "PatientInput",
    "RowChange",
    "TreatmentInput",
    "course_of",
    "diff_plan",
    "enroll",
    "facts_of",
    "fresh_plan",
    "policy_of",
    "replan",
    "replan_patient",
]


@dataclass(frozen=True)
class PatientInput:
    """A patient as a clinic describes them (already validated)."""

    external_id: str
    first_name: str
    timezone: str
    phone: str | None = None
    email: str | None = None
    locale: str | None = None  # None: the clinic's language for a new patient, else unchanged
    consent_sms: bool = False
    consent_email: bool = False
    # Fields the clinic left out: a known patient keeps what is stored (a new one the default).
    omitted: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TreatmentInput:
    """A treatment as a clinic describes it (already validated)."""

    external_id: str
    ended_at: datetime
    area: str = "face"
    needle_depth_mm: float | None = None
    session_number: int = 1
    sessions_planned: int = 1
    next_session_at: datetime | None = None


Row = TypeVar("Row", Patient, Treatment)


class TreatmentOwnerError(ValueError):
    """The treatment's external id is already used by another patient of the clinic."""


def upsert_patient(
    session: Session, clinic: Clinic, data: PatientInput, now: datetime
) -> tuple[Patient, bool]:
    """Create the patient or update their details in place, in one statement.

    Also says whether this statement created them (known on PostgreSQL; always False on
    SQLite). A number that texted STOP under another patient record stays opted out.
    """
    values = {**vars(data), "clinic_id": clinic.id, "created_at": now, "updated_at": now}
    keep = frozenset(values.pop("omitted"))
    if data.locale is None:  # not given: a known patient keeps theirs
        values["locale"], keep = clinic.locale, keep | {"locale"}
    found = upsert(session, Patient, values, keep)
    assert found is not None
    patient, created, stopped = found
    if inherit_stop(patient, stopped, now):
        session.add(patient)
    return patient, bool(created)


def upsert_treatment(
    session: Session, clinic: Clinic, patient: Patient, data: TreatmentInput, now: datetime
) -> Treatment:
    """Create the treatment or update it in place; TreatmentOwnerError if another patient's."""
    values = {
        **vars(data),
        "clinic_id": clinic.id,
        "patient_id": patient.id,
        "created_at": now,
        "updated_at": now,
    }
    found = upsert(session, Treatment, values)
    if found is None:
        raise TreatmentOwnerError("belongs to another patient")
    treatment, _created = found
    return treatment


# On a conflict these keep their stored value: identity, ownership and creation time.
KEPT = frozenset({"id", "clinic_id", "external_id", "patient_id", "created_at"})


def upsert(
    session: Session, model: type[Row], values: dict[str, Any], keep: frozenset[str] = frozenset()
) -> tuple[Any, ...] | None:
    """INSERT the row, or UPDATE the given fields (but `keep`) of the one with its external id.

    One round trip instead of a SELECT, an INSERT and a reload. A treatment is only updated
    for the patient who owns it; otherwise nothing is written and the answer is None. The
    answer is the row, whether it was inserted (False when unknown, on SQLite) and, for a
    patient, when their number texted STOP under another record (None if it never did).
    """
    dialect = session.get_bind().dialect.name
    statement = upsert_statement(dialect, model, tuple(values), keep)
    options = {"populate_existing": True}
    found = session.execute(statement, values, execution_options=options).one_or_none()
    return None if found is None else tuple(found)


@functools.cache
def upsert_statement(
    dialect_name: str, model: type[Row], names: tuple[str, ...], keep: frozenset[str]
) -> Any:
    """The upsert setting `names`, built once per dialect and field list, not per event."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    table = model.__table__  # type: ignore[attr-defined]
    statement = dialect.insert(model)
    changes = {name: statement.excluded[name] for name in names if name not in KEPT | keep}
    owner = table.c.patient_id == statement.excluded.patient_id if model is Treatment else None
    # PostgreSQL marks a row this statement inserted (rather than updated) with xmax = 0.
    inserted = sa.literal_column("xmax = 0" if dialect_name == "postgresql" else "0", sa.Boolean)
    extras = [inserted.label("inserted")]
    if model is Patient:
        # Read in the same round trip: every treatment.completed needs it.
        # Named as text: SQLAlchemy does not correlate a subquery in RETURNING to the row.
        phone, row_id = f"{table.name}.phone", f"{table.name}.id"
        clinic_id: sa.ColumnClause[Any] = sa.literal_column(f"{table.name}.clinic_id")
        stopped = stop_elsewhere(sa.literal_column(phone), sa.literal_column(row_id), clinic_id)
        extras.append(stopped.scalar_subquery().label("stopped_elsewhere"))
    upsert = statement.on_conflict_do_update(
        index_elements=["clinic_id", "external_id"], set_=changes, where=owner
    ).returning(*table.columns, *extras)
    # Loaded like a SELECT: cheaper than the ORM's bulk INSERT path for a returned row.
    returned: list[sa.ColumnClause[Any]] = [sa.column(extra.name) for extra in extras]
    return select(model, *returned).from_statement(upsert)


def enroll(
    session: Session,
    clinic: Clinic,
    patient_data: PatientInput,
    treatment_data: TreatmentInput,
    protocol: Protocol,
    now: datetime,
) -> tuple[Patient, Treatment]:
    """Record a treatment and plan (or re-plan) its prompts, in the caller's transaction."""
    patient, created = upsert_patient(session, clinic, patient_data, now)
    treatment = upsert_treatment(session, clinic, patient, treatment_data, now)
    replan(session, treatment, patient, clinic, protocol, now, new_patient=created)
    return patient, treatment
