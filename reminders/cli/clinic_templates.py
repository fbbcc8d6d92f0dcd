"""`reminders templates set/reset/show/list/branding`: a clinic's own templates, audited."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.cli.look_lint import clinic_protocols, clinic_sample, look_problems
from reminders.cli.templates import templates_app
from reminders.config import load_settings
from reminders.db import make_engine, require_migrated, session_scope
from reminders.delivery.looks import LookError, check_name
from reminders.delivery.rendering import Renderer
from reminders.intake.clinic_looks import (
    Lint,
    current_look,
    history,
    set_branding,
    set_template,
)
from reminders.models import Clinic
from reminders.ops.audit import cli_actor

__all__ = ["templates_app"]
console = Console(width=160)
Clinic_ = Annotated[str, typer.Argument(help="Clinic id.")]
Name = Annotated[str, typer.Argument(help="Shipped template path, e.g. sms/en/day_1.txt.")]


def fail(message: str) -> NoReturn:
    """One clear line on stderr, exit 1."""
    print(f"reminders: {message}", file=sys.stderr)
    raise typer.Exit(1)


def base_renderer() -> Renderer:
    """The shipped templates (REMINDERS_TEMPLATES_DIR)."""
    return Renderer(load_settings().templates_dir)


def migrated_engine() -> Engine:
    """A migrated engine from settings."""
    engine = make_engine(load_settings().effective_database_url)
    require_migrated(engine)
    return engine


def clinic_of(session: Session, clinic_id: str) -> Clinic:
    """The clinic, or a clear error."""
    clinic = session.get(Clinic, clinic_id)
    if clinic is None:
        fail(f"no clinic {clinic_id!r}")
    return clinic


def lint_for(session: Session, clinic: Clinic, base: Renderer) -> Lint:
    """The lint a change of this clinic's look must pass before it is written."""
    current = current_look(session.connection(), clinic.id)
    sample, protocols = clinic_sample(clinic), clinic_protocols(clinic)
    return lambda candidate: look_problems(base, current, candidate, sample, protocols)


@templates_app.command("set")
def set_command(
    clinic_id: Clinic_,
    name: Name,
    file: Annotated[Path | None, typer.Option(help="The new template text.")] = None,
    from_version: Annotated[
        int | None, typer.Option(help="Put an earlier version back in force (rollback).")
    ] = None,
) -> None:
    """Override a template for one clinic; the lint runs first and a failing text is refused."""
    base = base_renderer()
    try:
        name = check_name(base.directory, name)
        with session_scope(migrated_engine()) as session:
            clinic = clinic_of(session, clinic_id)
            body = body_of(session, clinic_id, name, file, from_version)
            version = set_template(session, clinic_id, name, body, cli_actor(),
                                   lint_for(session, clinic, base))  # fmt: skip
    except (LookError, OSError, UnicodeDecodeError) as exc:
        fail(str(exc))
    console.print(f"clinic {clinic_id}: {name} is now version {version}")


def body_of(
    session: Session, clinic_id: str, name: str, file: Path | None, version: int | None
) -> str:
    """The text from --file, or an earlier version's from --from-version (exactly one)."""
    if (file is None) == (version is None):
        raise LookError("give either --file or --from-version")
    if file is not None:
        return file.read_text(encoding="utf-8")
    for row in history(session, clinic_id, name):
        if row.version == version and row.body is not None:
            return row.body
    raise LookError(f"--from-version: clinic {clinic_id!r} has no text at {name} v{version}")


@templates_app.command("reset")
def reset_command(clinic_id: Clinic_, name: Name) -> None:
    """Use the shipped template again for this clinic (the history is kept)."""
    base = base_renderer()
    try:
        name = check_name(base.directory, name)
        with session_scope(migrated_engine()) as session:
            clinic = clinic_of(session, clinic_id)
            set_template(session, clinic_id, name, None, cli_actor(),
                         lint_for(session, clinic, base))  # fmt: skip
    except LookError as exc:
        fail(str(exc))
    console.print(f"clinic {clinic_id}: {name} is the shipped template again")


@templates_app.command("show")
def show_command(clinic_id: Clinic_, name: Name) -> None:
    """Print the text a clinic's messages use for a template (its override, else shipped)."""
    base = base_renderer()
    try:
        name = check_name(base.directory, name)
    except LookError as exc:
        fail(str(exc))
    with session_scope(migrated_engine()) as session:
        clinic_of(session, clinic_id)
        look = current_look(session.connection(), clinic_id)
    version = look.templates.get(name)
    print(f"# {name}: " + (f"clinic {clinic_id} v{version[0]}" if version else "shipped"),
          file=sys.stderr)  # fmt: skip
    print(Renderer(base.directory, look=look).source(name), end="")


@templates_app.command("list")
def list_command(
    clinic_id: Clinic_,
    all_versions: Annotated[bool, typer.Option("--history", help="Every version.")] = False,
) -> None:
    """A clinic's overrides in force (or their whole history) and its email branding."""
    with session_scope(migrated_engine()) as session:
        clinic_of(session, clinic_id)
        look = current_look(session.connection(), clinic_id)
        rows = history(session, clinic_id)
    table = Table(title=f"templates of clinic {clinic_id} (any other: shipped)")
    for column in ("template", "version", "in force", "saved", "by"):
        table.add_column(column)
    for row in rows:
        in_force = look.templates.get(row.name, (0, ""))[0] == row.version
        if all_versions or in_force:
            table.add_row(row.name, str(row.version) + (" (reset)" if row.body is None else ""),
                          "yes" if in_force else "", f"{row.created_at:%Y-%m-%d %H:%M}",
                          row.created_by)  # fmt: skip
    console.print(table)
    brand = look.branding
    values = {k: v for k, v in vars(brand).items() if v and k != "version"}
    shown = ", ".join(f"{k}={v}" for k, v in values.items()) or "shipped look"
    console.print(f"branding v{brand.version}: {escape(shown)}")


@templates_app.command("branding")
def branding_command(
    clinic_id: Clinic_,
    display_name: Annotated[str | None, typer.Option(help="Name in the email header.")] = None,
    logo_url: Annotated[str | None, typer.Option(help="https:// image in the header.")] = None,
    colour: Annotated[str | None, typer.Option(help="Header colour, #rrggbb.")] = None,
    background: Annotated[str | None, typer.Option(help="Page background, #rrggbb.")] = None,
    footer: Annotated[str | None, typer.Option(help="A line above the email footer.")] = None,
) -> None:
    """Set a clinic's email layout values ('' puts one back to the shipped look)."""
    values = {"display_name": display_name, "logo_url": logo_url, "colour": colour,
              "background": background, "footer": footer}  # fmt: skip
    base = base_renderer()
    try:
        with session_scope(migrated_engine()) as session:
            clinic = clinic_of(session, clinic_id)
            brand = set_branding(session, clinic_id, values, cli_actor(),
                                 lint_for(session, clinic, base))  # fmt: skip
    except LookError as exc:
        fail(str(exc))
    console.print(f"clinic {clinic_id}: branding is now version {brand.version}")
