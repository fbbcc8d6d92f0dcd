"""The filter options `reminders messages list|retry|cancel|resolve` share, as a MessageFilter."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from reminders.ops.listing import MessageFilter
from reminders.outbox import lifecycle as lc

Status = Annotated[str, typer.Option(help=f"One of {', '.join(lc.STATUSES)}.")]
ClinicOpt = Annotated[str, typer.Option("--clinic", help="Clinic id.")]
Channel = Annotated[str, typer.Option(help="sms or email.")]
PatientOpt = Annotated[str, typer.Option("--patient", help="The patient's external id.")]
DueFrom = Annotated[str, typer.Option("--due-from", help="Due on or after (YYYY-MM-DD, UTC).")]
DueTo = Annotated[str, typer.Option("--due-to", help="Due on or before (YYYY-MM-DD, UTC).")]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="List the messages it would act on; change nothing.")
]


def message_filter(
    status: str = "",
    clinic: str = "",
    channel: str = "",
    patient: str = "",
    due_from: str = "",
    due_to: str = "",
) -> MessageFilter:
    """The options as a filter; BadParameter naming every option that is wrong."""
    problems = []
    if status and status not in lc.STATUSES:
        problems.append(f"--status: {status!r}; choose one of {', '.join(lc.STATUSES)}")
    if channel and channel not in ("sms", "email"):
        problems.append(f"--channel: {channel!r}; choose sms or email")
    days = {}
    for name, value in (("due-from", due_from), ("due-to", due_to)):
        try:
            days[name] = date.fromisoformat(value) if value else None
        except ValueError:
            problems.append(f"--{name}: expected a date as YYYY-MM-DD, got {value!r}")
    if problems:
        raise typer.BadParameter("; ".join(problems))
    return MessageFilter(
        status=status,
        clinic=clinic,
        channel=channel,
        due_from=days.get("due-from"),
        due_to=days.get("due-to"),
        patient=patient,
    )


def is_empty(wanted: MessageFilter) -> bool:
    """True when no filter option was given (a bulk action then needs explicit ids)."""
    return wanted == MessageFilter()
