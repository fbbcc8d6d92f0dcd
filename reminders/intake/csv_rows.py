"""Enroll a clinic's existing patients from a CSV file, with exactly the webhook's validation."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from reminders.consent.changes import numbers_withdrawn
from reminders.consent.gate import ConsentGate, gate_for
from reminders.db import session_scope
from reminders.intake.effects import EventRefusedError, apply_event
from reminders.intake.events import InvalidEventError, parse_event
from reminders.intake.fields import Model, zones
from reminders.intake.inputs import Consent, PatientDetails, TreatmentDetails
from reminders.models import Clinic


def columns_of(model: type[Model], required: bool = False, **renamed: str) -> tuple[str, ...]:
    """A model's fields as CSV columns (all, or only the required ones)."""
    return tuple(
        renamed.get(name, name)
        for name, field in model.model_fields.items()
        if not required or field.is_required()
    )


# The columns are the fields of treatment.completed's models, whose rules every row follows.
PATIENT_COLUMNS = tuple(name for name in columns_of(PatientDetails) if name != "consent")
CONSENT_COLUMNS = columns_of(Consent, sms="consent_sms", email="consent_email")
TREATMENT_COLUMNS = columns_of(TreatmentDetails, external_id="treatment_id")
COLUMNS = PATIENT_COLUMNS + CONSENT_COLUMNS + TREATMENT_COLUMNS
REQUIRED = columns_of(PatientDetails, True) + columns_of(
    TreatmentDetails, True, external_id="treatment_id"
)


TIME_COLUMNS = ("ended_at", "next_session_at")


@dataclass(frozen=True)
class ImportMode:
    """How to import: read offset-less times in the patient's zone; only validate (dry run)."""

    local_times: bool = False
    dry_run: bool = False


class ImportFileError(ValueError):
    """The file itself is unusable (missing or unknown columns, not UTF-8)."""


@dataclass(frozen=True)
class Rejection:
    """One problem with one row: its line number in the file, the column and the rule."""

    line: int
    column: str
    problem: str


@dataclass(frozen=True)
class RowWarning:
    """Something the clinic should know about an enrolled row (as the webhook's `warnings`)."""

    line: int
    warning: str


@dataclass
class ImportReport:
    """How many rows were enrolled, every problem with the rows that were not, and warnings."""

    enrolled: int = 0
    rejected_rows: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    warnings: list[RowWarning] = field(default_factory=list)


def event_data(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row in the shape of a treatment.completed event's data.

    A column the file lacks is left out, so it keeps what is stored; an empty cell is given.
    """
    patient: dict[str, Any] = {name: row[name] for name in PATIENT_COLUMNS if name in row}
    patient["consent"] = {
        name.removeprefix("consent_"): row[name] for name in CONSENT_COLUMNS if name in row
    }
    treatment = {name: row[name] for name in TREATMENT_COLUMNS if name in row}
    treatment["external_id"] = treatment.pop("treatment_id", "")
    return {"patient": patient, "treatment": treatment}


def column_of(field_path: str) -> str:
    """The CSV column an event field comes from: 'data.patient.consent.sms' -> 'consent_sms'."""
    part = field_path.removeprefix("data.")
    if part == "treatment.external_id":
        return "treatment_id"
    part = part.removeprefix("patient.").removeprefix("treatment.")
    return part.replace("consent.", "consent_")


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and (line number, row) pairs; refuses files with unknown or missing columns,
    rows with more cells than the header, and quotes that are never closed."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header, rows = _parse(path, handle)
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: not UTF-8 text") from None
    unknown = [name for name in header if name not in COLUMNS]
    missing = [name for name in REQUIRED if name not in header]
    if unknown or missing:
        raise ImportFileError(
            f"{path}: unknown columns {unknown or '-'}, missing columns {missing or '-'}; "
            f"the columns are {', '.join(COLUMNS)}"
        )
    return header, rows


def _parse(path: Path, handle: Iterable[str]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    # strict: an unclosed quote is an error at the end of the file, not one giant last cell.
    reader = csv.DictReader(handle, strict=True)
    rows: list[tuple[int, dict[str, str]]] = []
    problems: list[str] = []
    start = 2
    try:
        header = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = header
        for row in reader:
            end = reader.line_num
            # Blank lines are skipped, so where a row starts is counted back from its end.
            begin = end - sum(str(v).count("\n") for v in row.values() if isinstance(v, str))
            problems += _shape_problems(begin, end, row, len(header))
            rows.append((begin, row))
            start = end + 1
    except csv.Error:
        problems.append(f"line {start}: a quote opened on this line is never closed")
    if problems:
        raise ImportFileError(f"{path}: " + "; ".join(problems))
    return header, rows


def _shape_problems(start: int, end: int, row: dict[Any, Any], width: int) -> list[str]:
    found = []
    extra = row.get(None)
    if extra:
        found.append(f"line {start}: {len(extra)} cell(s) more than the {width} columns")
    if end > start:  # a quoted cell ran over several lines: almost always a missing quote
        found.append(f"line {start}: a quote opened on this line runs on to line {end}")
    return found


def import_rows(
    engine: Engine,
    clinic_id: str,
    rows: Iterable[tuple[int, dict[str, str]]],
    advance: Callable[[], None] = lambda: None,
    gate: ConsentGate | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    how: ImportMode = ImportMode(),
) -> ImportReport:
    """Enroll each row in its own transaction; a bad row is reported and writes nothing."""
    report = ImportReport()
    gate = gate or gate_for(engine)
    for line, row in rows:
        if how.local_times:
            row = localised(row)
        problems, warnings = enroll_row(engine, gate, clinic_id, row, clock(), how.dry_run)
        report.warnings += [RowWarning(line, warning) for warning in warnings]
        if problems:
            report.rejected_rows += 1
            report.rejections += [
                Rejection(line, column_of(p["field"]), p["problem"]) for p in problems
            ]
        else:
            report.enrolled += 1
        advance()
    return report


def localised(row: dict[str, str]) -> dict[str, str]:
    """The row with its times that lack an offset read in the row's own `timezone`."""
    zone_name = (row.get("timezone") or "").strip()
    if zone_name not in zones():
        return row  # the timezone column's own rule reports it
    found = dict(row)
    for column in TIME_COLUMNS:
        try:
            value = datetime.fromisoformat((row.get(column) or "").strip())
        except ValueError:
            continue  # empty or malformed: the column's own rule reports it
        if value.tzinfo is None:
            found[column] = value.replace(tzinfo=ZoneInfo(zone_name)).isoformat()
    return found


def enroll_row(
    engine: Engine,
    gate: ConsentGate,
    clinic_id: str,
    row: dict[str, str],
    now: datetime,
    dry_run: bool = False,
) -> tuple[list[dict[str, str]], list[str]]:
    """Validate and apply one row: its problems ([] when enrolled) and its warnings.

    With dry_run the row is applied in a transaction that is rolled back: checked, not written.
    """
    try:
        with session_scope(engine) as session:
            clinic = session.get(Clinic, clinic_id)
            if clinic is None:
                raise ImportFileError(f"no clinic {clinic_id!r}")
            body = {"type": "treatment.completed", "data": event_data(row)}
            event = parse_event(body, clinic.default_region, now)
            # A row that removes a number or its consent waits for sends to it in flight.
            if dry_run:
                warnings = apply_event(session, clinic, event, now).warnings()
                session.rollback()
                return [], warnings
            with gate.changing(numbers_withdrawn(session, gate, clinic.id, event)):
                applied = apply_event(session, clinic, event, now)
                warnings = applied.warnings()
                session.commit()
    except (InvalidEventError, EventRefusedError) as exc:
        return exc.problems, []
    except IntegrityError:
        problem = "changed concurrently; import the row again"
        return [{"field": "external_id", "problem": problem}], []
    return [], warnings
