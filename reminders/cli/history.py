"""`reminders retention run|days` and `reminders patients erase`: history and erasure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from sqlmodel import Session

from reminders.cli.clinics import engine_now, fail
from reminders.consent import erasure
from reminders.db import session_scope
from reminders.models import Clinic
from reminders.ops import audit, retention

retention_app = typer.Typer(help="Move finished treatments' messages to history.")
patients_app = typer.Typer(help="Patients: erase a patient's personal data on request.")
console = Console()
MAX_DAYS = 3650


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@retention_app.command("run")
def run(
    dry_run: Annotated[bool, typer.Option(help="Say what would move; change nothing.")] = False,
    clinic: Annotated[str | None, typer.Option(help="Only this clinic.")] = None,
    batch: Annotated[int, typer.Option(min=1, max=5000, help="Treatments per batch.")] = 200,
) -> None:
    """Run retention now (resuming an unfinished run), printing progress batch by batch."""
    engine = engine_now()
    if clinic is not None:
        with Session(engine) as session:
            if session.get(Clinic, clinic) is None:
                fail(f"--clinic: no clinic {clinic!r}")
    verb = "would move" if dry_run else "moved"
    looked = treatments = moved = 0
    started = utc_now()
    steps = retention.run(
        lambda: Session(engine), utc_now, audit.cli_actor(), clinic, dry_run, batch
    )
    for _, done in steps:
        looked, treatments = looked + done.looked_at, treatments + done.treatments
        moved += done.moved
        console.print(
            f"treatments looked at {looked}: {verb} {moved} messages of {treatments} "
            f"(up to treatment {done.last_treatment_id})"
        )
    seconds = max((utc_now() - started).total_seconds(), 1e-6)
    rate = "" if dry_run else f" ({moved / seconds:.0f} messages/s)"
    console.print(f"done: {verb} {moved} messages of {treatments} finished treatments{rate}")


@retention_app.command("days")
def days(
    clinic_id: Annotated[str, typer.Argument(help="The clinic.")],
    value: Annotated[int, typer.Argument(help=f"Days to keep, 1 to {MAX_DAYS}.")],
) -> None:
    """Set how many days after a treatment's last message finished its messages are kept."""
    if not 1 <= value <= MAX_DAYS:
        fail(f"days: must be between 1 and {MAX_DAYS}, got {value}")
    with session_scope(engine_now()) as session:
        clinic = session.get(Clinic, clinic_id)
        if clinic is None:
            fail(f"clinic: no clinic {clinic_id!r}")
            return
        before = clinic.retention_days
        clinic.retention_days = value
        session.add(clinic)
        audit.record(
            session,
            audit.cli_actor(),
            "clinic.retention",
            clinic_id=clinic_id,
            target=f"clinic:{clinic_id}",
            before={"retention_days": before},
            after={"retention_days": value},
        )
    console.print(f"{clinic_id}: messages kept {value} days after a treatment finished")


@patients_app.command("erase")
def erase(
    clinic_id: Annotated[str, typer.Argument(help="The patient's clinic.")],
    external_id: Annotated[str, typer.Argument(help="The clinic's id for the patient.")],
) -> None:
    """Remove a patient's personal data everywhere and cancel what is pending (audited)."""
    with session_scope(engine_now()) as session:
        if session.get(Clinic, clinic_id) is None:
            fail(f"clinic: no clinic {clinic_id!r}")
        patient = erasure.find(session, clinic_id, external_id)
        if patient is None:
            fail(f"external_id: clinic {clinic_id} has no patient {external_id!r}")
            return
        done = erasure.erase(session, patient, audit.cli_actor(), utc_now())
    console.print(
        f"patient {done.patient_id} of {clinic_id} erased: {done.messages} messages scrubbed, "
        f"{done.cancelled} cancelled, {done.replies} replies and {done.stored_bodies} stored "
        "bodies cleared"
    )
