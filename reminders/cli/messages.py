"""`reminders messages list|show`: the outbox from the shell, contact details masked."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlmodel import Session

from reminders.cli import message_filter as f
from reminders.cli.ops import EXIT_ALERT, messages_app
from reminders.config import load_settings
from reminders.db import make_engine, require_migrated
from reminders.delivery.rendering import Renderer
from reminders.ops import listing
from reminders.ops.detail import Detail, message_detail
from reminders.ops.times import both, zones_of

__all__ = ["messages_app"]
console = Console()


def _engine() -> Any:
    engine = make_engine(load_settings().effective_database_url)
    require_migrated(engine)
    return engine


@messages_app.command("list")
def list_command(
    status: f.Status = "",
    clinic: f.ClinicOpt = "",
    channel: f.Channel = "",
    patient: f.PatientOpt = "",
    due_from: f.DueFrom = "",
    due_to: f.DueTo = "",
    after: Annotated[str, typer.Option(help="The cursor a previous page printed.")] = "",
    soonest: Annotated[bool, typer.Option("--soonest", help="Due soonest first.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Messages matching the filters, 50 a page, latest due first, contact details masked."""
    wanted = f.message_filter(status, clinic, channel, patient, due_from, due_to)
    order = "due" if soonest else "-due"
    wanted = listing.MessageFilter(**{**asdict(wanted), "after": after, "order": order})
    with Session(_engine()) as session:
        try:
            found = listing.find_messages(session, wanted)
        except listing.BadCursorError as exc:
            print(f"reminders: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None
        zones = zones_of(session, [r.patient_id for r in found.rows])
    if as_json:
        for row in found.rows:
            print(json.dumps(asdict(row), default=str))
        return
    more = f"; next page: --after {found.next_after}" if found.next_after else " (the last page)"
    table = Table(title=f"{len(found.rows)} messages{more}")
    for column in ("id", "due", "clinic", "patient", "contact", "step", "channel", "status",
                   "tries", "why"):  # fmt: skip
        table.add_column(column)
    for r in found.rows:
        why = (r.last_error or r.reason or "") + (
            f" (code {r.provider_code})" if r.provider_code else ""
        )
        table.add_row(
            str(r.id), both(r.due_at, zones.get(r.patient_id, "UTC")), r.clinic_id,
            r.patient_external_id, r.contact, r.step_key, r.channel, r.status,
            str(r.attempts), escape(why),
        )  # fmt: skip
    Console().print(table)  # made now: it reads the terminal's width ($COLUMNS) as it is


@messages_app.command("show")
def show_command(message_id: Annotated[int, typer.Argument(help="Message id.")]) -> None:
    """One message: its row, its text (rendered again), provider reports and audit entries."""
    settings = load_settings()
    with Session(_engine()) as session:
        found = message_detail(session, message_id, Renderer(settings.templates_dir))
    if found is None:
        print(f"reminders: no message {message_id}")
        raise typer.Exit(EXIT_ALERT)
    for line in detail_lines(found):
        console.print(escape(line), highlight=False)


def detail_lines(d: Detail) -> list[str]:
    """The page of a message as lines of text."""
    r, tz = d.row, d.timezone
    why = r.last_error or r.reason or "-"
    lines = [
        f"message {r.id}: {r.step_key} by {r.channel} to {r.contact}, clinic {r.clinic_id}, "
        f"patient {r.patient_external_id} ({tz})",
        f"status      {r.status}  (tries {r.attempts}; {why})",
        f"due         {both(r.due_at, tz)}",
        f"valid until {both(d.valid_until, tz)}",
        f"next try    {both(d.next_attempt_at, tz)}",
        f"sent        {both(r.sent_at, tz)}",
        f"delivered   {both(r.delivered_at, tz)}",
        f"provider id {d.provider_id or '-'}  code {r.provider_code or '-'}",
        f"sender      {d.sender or '-'}",
        f"templates   recorded {d.text.templates_recorded or '-'}; now {d.text.templates_now}",
        "",
        f"text ({rerender_note(d)}):",
    ]
    if d.text.problem:
        lines.append(f"  {d.text.problem}")
    if d.text.subject:
        lines.append(f"  Subject: {d.text.subject}")
    lines += [f"  {line}" for line in d.text.text.splitlines()]
    lines += ["", f"tries ({len(d.attempts)}):"]
    lines += [
        f"  #{t.number}  {both(t.at, tz)}  -> {t.status}  {t.provider_id or '-'}  "
        f"code {t.provider_code or '-'}  {t.error or ''}".rstrip()
        for t in d.attempts
    ] or ["  not tried yet"]
    lines += ["", f"status callbacks ({len(d.reports)}):"]
    lines += [
        f"  {both(p.received_at, tz)}  {p.status}  {p.provider_id or '-'}  "
        f"error {p.error_code or '-'}  -> {p.outcome}"
        for p in d.reports
    ] or ["  none received"]
    lines += ["", f"audit ({len(d.audit)}):"]
    lines += [f"  {both(a.at, tz)}  {a.actor}  {a.action}  {a.detail}" for a in d.audit] or [
        "  none"
    ]
    return lines


def rerender_note(d: Detail) -> str:
    """Says the text is rendered again, from which templates, and if it matches what was sent."""
    source = (
        "the template versions recorded on the row"
        if d.text.from_recorded
        else "the templates in force now"
    )
    same = {True: "; identical to the text sent (same digest)",
            False: "; the text sent was different", None: ""}[d.text.same_as_sent]  # fmt: skip
    return f"rendered again from {source}{same}"
