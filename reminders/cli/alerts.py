"""Operator commands for warning-sign alerts: `reminders alerts list|retry`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from reminders.cli.ops import EXIT_ALERT, EXIT_OK, Actor, default_actor
from reminders.config import load_settings
from reminders.db import make_engine, require_migrated, session_scope
from reminders.inbound.alert_outbox import requeue, unsent_alerts
from reminders.inbound.replies import WARNING
from reminders.ops.unrouted import unrouted_replies

alerts_app = typer.Typer(
    help="Warning-sign alerts to clinics that are not emailed yet.", no_args_is_help=True
)
console = Console()


def engine_from_settings() -> Engine:
    """The configured database, migrated."""
    engine = make_engine(load_settings().effective_database_url)
    require_migrated(engine)
    return engine


@alerts_app.command("list")
def list_alerts() -> None:
    """Unsent alerts, oldest first: retrying, or given up with the last error; exit 1 if any."""
    found = unsent_alerts(engine_from_settings())
    table = Table(title="warning-sign alerts not emailed")
    for column in ("reply", "clinic", "patient", "received", "attempts", "state", "last error"):
        table.add_column(column)
    for alert in found:
        state = f"retry at {alert.due_at:%Y-%m-%d %H:%M} UTC" if alert.due_at else "gave up"
        table.add_row(
            str(alert.reply_id),
            alert.clinic_id or "",
            alert.patient_external_id,
            f"{alert.received_at:%Y-%m-%d %H:%M} UTC",
            str(alert.attempts),
            state,
            alert.error or "",
        )
    console.print(table)
    raise typer.Exit(EXIT_ALERT if found else EXIT_OK)


@alerts_app.command("retry")
def retry_alerts(
    ids: Annotated[list[int], typer.Argument(help="Reply ids, from `reminders alerts list`.")],
    actor: Actor = "",
) -> None:
    """Send these alerts again now (after fixing the clinic's email, say); exit 1 if refused."""
    engine, refused = engine_from_settings(), 0
    for reply_id in ids:
        with session_scope(engine) as session:
            ok = requeue(session, reply_id, actor or default_actor(), datetime.now(UTC))
        refused += not ok
        verdict = (
            "[green]queued[/green]: beat sends it within the sweep interval"
            if ok
            else "[red]refused[/red]: not an unsent warning alert, or being sent right now"
        )
        console.print(f"reply {reply_id}: {verdict}")
    raise typer.Exit(EXIT_ALERT if refused else EXIT_OK)


@alerts_app.command("unrouted")
def list_unrouted(
    days: Annotated[float, typer.Option(help="How far back to look.")] = 7,
) -> None:
    """Replies no clinic was told of (a shared sender, several clinics, none wrote last); exit
    1 if one is a warning sign: call the clinics listed."""
    since = datetime.now(UTC) - timedelta(days=days)
    with session_scope(engine_from_settings()) as session:
        found = unrouted_replies(session, since)
    table = Table(title="replies no clinic was told of")
    for column in (
        "reply",
        "received",
        "sender",
        "from",
        "kind",
        "clinics with the number",
        "text",
    ):
        table.add_column(column)
    for reply in found:
        table.add_row(
            str(reply.reply_id), f"{reply.received_at:%Y-%m-%d %H:%M} UTC", reply.sender,
            reply.from_number, reply.kind, ", ".join(reply.clinics), reply.body,
        )  # fmt: skip
    console.print(table)
    raise typer.Exit(EXIT_ALERT if any(r.kind == WARNING for r in found) else EXIT_OK)
