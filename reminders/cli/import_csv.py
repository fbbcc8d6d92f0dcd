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
from reminders.intake.csv_rows import (
    ImportFileError,
    ImportMode,
    ImportReport,
    import_rows,
    read_rows,
)
from reminders.models import Clinic

console = Console(stderr=True)


def import_csv(
    file: Annotated[Path, typer.Argument(help="CSV file; columns are listed in the README.")],
    clinic: Annotated[str, typer.Option(help="The clinic the patients belong to.")],
    local_times: Annotated[
        bool,
        typer.Option(
            "--local-times",
            help="Read ended_at/next_session_at without an offset in the row's timezone "
            "(without this option such times are refused).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and report; write nothing.")
    ] = False,
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
        how = ImportMode(local_times=local_times, dry_run=dry_run)
        report = import_rows(engine, clinic, rows, lambda: progress.advance(task), gate, how=how)
    show(report, dry_run)
    if report.rejected_rows:
        raise typer.Exit(1)


def counted(n: int) -> str:
    """'1 row', '2 rows'."""
    return f"{n} row" if n == 1 else f"{n} rows"


def summary(report: ImportReport, dry_run: bool = False) -> str:
    """'enrolled 1 row, rejected 2 rows', or in a dry run what would have been."""
    if dry_run:
        return (
            f"dry run, nothing written: {counted(report.enrolled)} would be enrolled, "
            f"{counted(report.rejected_rows)} rejected"
        )
    return f"enrolled {counted(report.enrolled)}, rejected {counted(report.rejected_rows)}"


def show(report: ImportReport, dry_run: bool = False) -> None:
    """The summary, a table of warnings and a table of rejected rows."""
    out = Console()
    out.print(summary(report, dry_run))
    if report.warnings:
        title = "would be enrolled" if dry_run else "these rows were enrolled"
        notes = Table(title=f"warnings ({title})")
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
