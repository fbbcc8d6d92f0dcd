"""`reminders templates preview/check`: how a clinic's messages read, and if they still pass."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from jinja2 import TemplateError
from rich.console import Console
from rich.markup import escape
from sqlmodel import select

from reminders.cli.clinic_templates import (
    Clinic_,
    base_renderer,
    clinic_of,
    fail,
    migrated_engine,
    templates_app,
)
from reminders.cli.look_lint import clinic_protocols, clinic_sample, look_rows, unknown_variables
from reminders.cli.templates import TREATED_AT, sample_context
from reminders.db import session_scope
from reminders.delivery.looks import Look
from reminders.delivery.rendering import Renderer, sms_size
from reminders.intake.clinic_looks import current_look
from reminders.models import Clinic

__all__ = ["templates_app"]
console = Console(width=160)


@templates_app.command("preview")
def preview_command(
    clinic_id: Clinic_,
    step: Annotated[str, typer.Argument(help="Step, e.g. day_1.")],
    channel: Annotated[str, typer.Option(help="sms or email.")] = "sms",
    lang: Annotated[str, typer.Option(help="Patient's language.")] = "en",
    first_sms: Annotated[bool, typer.Option(help="Render as the patient's first SMS.")] = False,
    html: Annotated[bool, typer.Option(help="Print the email's HTML part too.")] = False,
) -> None:
    """Render a clinic's message for a step with sample patient data, as it would be sent."""
    with session_scope(migrated_engine()) as session:
        clinic = clinic_of(session, clinic_id)
        look = current_look(session.connection(), clinic_id)
    renderer = base_renderer().for_clinic(look)
    context = sample_context(clinic_sample(clinic), lang, first_sms, TREATED_AT)
    try:
        print_preview(renderer, look, step, channel, lang, context, html)
    except TemplateError as exc:
        fail(f"{channel} {step} ({lang}) does not render: {exc}")


def print_preview(
    renderer: Renderer,
    look: Look,
    step: str,
    channel: str,
    lang: str,
    context: dict[str, Any],
    html: bool,
) -> None:
    """The rendered message, with the version it comes from and, for an SMS, its size."""
    if channel not in ("sms", "email"):
        fail(f"--channel: {channel!r}; choose sms or email")
    print(f"# {renderer.stamp(channel, step, lang)}", file=sys.stderr)
    if channel == "sms":
        text = renderer.sms(step, lang, context)
        size = sms_size(text)
        print(text)
        print(f"# {size.encoding}, {size.segments} segment(s), {size.units} units", file=sys.stderr)
        return
    email = renderer.email(step, lang, context)
    print(f"Subject: {email.subject}\n\n{email.text}")
    if html:
        print("\n" + email.html)


@templates_app.command("check")
def check_command(
    clinic_ids: Annotated[
        list[str] | None, typer.Argument(help="Clinic ids [default: all].")
    ] = None,
) -> None:
    """Lint each clinic's templates as its patients get them; exit 1 when any breaks a rule.

    Run it after upgrading: a shipped change can break an override that passed when saved.
    """
    base, failed = base_renderer(), 0
    with session_scope(migrated_engine()) as session:
        if clinic_ids:
            clinics = [clinic_of(session, clinic_id) for clinic_id in clinic_ids]
        else:
            clinics = list(session.exec(select(Clinic).order_by(Clinic.id)))
        for clinic in clinics:
            look = current_look(session.connection(), clinic.id)
            problems = unknown_variables(look)
            rows = look_rows(base, look, clinic_sample(clinic), clinic_protocols(clinic))
            problems += [f"{r.channel} {r.step} ({r.lang}): {p}" for r in rows for p in r.problems]
            failed += bool(problems)
            summary = f"{len(look.templates)} overrides, branding v{look.branding.version}"
            verdict = (
                "[green]ok[/green]" if not problems else f"[red]{len(problems)} problems[/red]"
            )
            console.print(f"clinic {escape(clinic.id)} ({summary}): {verdict}")
            for problem in problems:
                console.print(f"  - {escape(problem)}")
    if failed:
        raise typer.Exit(1)
