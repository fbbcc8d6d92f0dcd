"""`reminders events list|retry`: events posted to clinics' own systems, for operators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from reminders.cli.clinics import engine_now, fail
from reminders.db import session_scope
from reminders.events.listing import STATUSES, list_events, retry_event
from reminders.ops.audit import cli_actor

events_app = typer.Typer(
    help="Signed events to clinics' own systems: list, retry dead ones.", no_args_is_help=True
)
console = Console()


@events_app.command("list")
def list_command(
    clinic: Annotated[str, typer.Option(help="Only this clinic's events.")] = "",
    status: Annotated[str, typer.Option(help=f"One of {', '.join(STATUSES)}.")] = "",
    limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many.")] = 100,
) -> None:
    """The newest events with their delivery state (never their bodies); exit 1 if any is dead."""
    if status and status not in STATUSES:
        fail(f"--status: one of {', '.join(STATUSES)}")
    with session_scope(engine_now()) as session:
        found = list_events(session, None, status=status, clinic=clinic, limit=limit)
    table = Table(title="events to clinics' systems")
    for column in ("id", "clinic", "type", "created", "status", "attempts", "next try", "error"):
        table.add_column(column)
    for event in found:
        table.add_row(
            str(event.id), event.clinic_id, event.event_type,
            f"{event.created_at:%Y-%m-%d %H:%M:%S}", event.status, str(event.attempts),
            f"{event.next_attempt_at:%H:%M:%S}" if event.next_attempt_at else "",
            event.last_error or "",
        )  # fmt: skip
    console.print(table)
    raise typer.Exit(1 if any(event.status == "dead" for event in found) else 0)


@events_app.command("retry")
def retry_command(
    ids: Annotated[list[int], typer.Argument(help="Event ids, from `reminders events list`.")],
) -> None:
    """Post dead events again with fresh attempts (after the clinic fixed its endpoint)."""
    refused = 0
    for event_id in ids:
        with session_scope(engine_now()) as session:
            ok = retry_event(session, event_id, cli_actor(), datetime.now(UTC))
        refused += not ok
        verdict = "queued" if ok else "refused: no dead event with this id"
        console.print(f"event {event_id}: {verdict}")
    raise typer.Exit(1 if refused else 0)
