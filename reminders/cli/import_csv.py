"""`reminders import FILE.csv --clinic ID`: bulk enrollment with a progress bar and a report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from reminders.config import load_settings
from reminders.consent.gate import gate_for, patience_for
from reminders.db import make_engine, require_migrated, session_scope
from reminders.intake.clinics import unworkable_setting
from reminders.intake.csv_rows import ImportFileError, ImportReport, import_rows, read_rows
from reminders.models import Clinic

console = Console(stderr=True)


def import_csv(
    file: Annotated[Path, typer.Argument(help="CSV file; columns are listed in the README.")],
    clinic: Annotated[str, typer.Option(help="The clinic the patients belong to.")],
) -> None:
    """Enroll a clinic's existing patients from CSV; exits 1 when any row was rejected."""
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    require_migrated(engine)
    with session_scope(engine) as session:
        found = session.get(Clinic, clinic)
        unworkable = unworkable_setting(found) if found is not None else None
    try:
        if found is None:
            raise ImportFileError(f"no clinic {clinic!r}")
        if unworkable is not None:  # every row would be refused for it
            raise ImportFileError(f"clinic {clinic!r} {unworkable[0]}: {unworkable[1]}")
        _header, rows = read_rows(file)
    except (ImportFileError, OSError) as exc:
        print(f"reminders: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("rows", total=len(rows))
        gate = gate_for(engine, patience_for(settings.twilio_timeout_seconds))
        report = import_rows(engine, clinic, rows, lambda: progress.advance(task), gate)
    show(report)
    if report.rejected_rows:
        raise typer.Exit(1)


def show(report: ImportReport) -> None:
    """The summary, a table of warnings and a table of rejected rows."""
    out = Console()
    out.print(f"enrolled {report.enrolled} rows, rejected {report.rejected_rows}")
    if report.warnings:
        notes = Table(title="warnings (these rows were enrolled)")
        for column in ("line", "warning"):
            notes.add_column(column)
        for note in report.warnings:
            notes.add_row(str(note.line), note.warning)
        out.print(notes)
    if not report.rejections:
        return
    table = Table(title="rejected rows (nothing was written for them)")
    for column in ("line", "column", "problem"):
        table.add_column(column)
    for item in report.rejections:
        table.add_row(str(item.line), item.column, item.problem)
    out.print(table)
