"""`reminders audit`: the audit trail from the shell, newest first (unscoped: a trusted user)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from reminders.config import load_settings
from reminders.db import make_engine, require_migrated, session_scope
from reminders.ops.audit_listing import MAX_ENTRIES, AuditFilter, find_entries, shown_values

console = Console()


def audit(
    clinic: Annotated[str, typer.Option(help="Only this clinic's entries.")] = "",
    actor: Annotated[str, typer.Option(help="Only this actor's (op:maria, cli:ana, token).")] = "",
    action: Annotated[str, typer.Option(help="Only this action (login failed, retry...).")] = "",
    limit: Annotated[
        int, typer.Option(min=1, max=MAX_ENTRIES, help="At most this many entries.")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """The audit trail, newest first: who changed what, when, before and after."""
    engine = make_engine(load_settings().effective_database_url)
    require_migrated(engine)
    with session_scope(engine) as session:
        entries = find_entries(session, AuditFilter(clinic, actor, action, limit))
        rows = [e.model_dump(mode="json") for e in entries]
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    table = Table(title="audit trail (newest first)")
    for column in ("when (UTC)", "who", "action", "clinic", "target", "what", "before", "after"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["at"])[:19].replace("T", " "), row["actor"], row["action"],
            row["clinic_id"] or "", row["target"], row["detail"],
            shown_values(row["before"]), shown_values(row["after"]),
        )  # fmt: skip
    console.print(table)
