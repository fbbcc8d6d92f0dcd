"""`reminders templates lint`: render every template with sample data and check the rules."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from jinja2 import TemplateError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reminders.cli.answer_lint import REPLIES, Row, Sample, lint_answers
from reminders.config import load_settings
from reminders.delivery.composition import context_for
from reminders.delivery.rendering import EMAIL_PARTS, Renderer, sms_size
from reminders.delivery.sms_rules import sms_problems, subject_problems
from reminders.models import Clinic, Patient, Treatment
from reminders.planning.claims import claim_problems
from reminders.planning.protocol import Protocol, load_protocol

PROTOCOL_DIR = Path(__file__).resolve().parents[1] / "protocols"
# The shared contract: every protocol step has an SMS and an email template in every language.
STEP_KEYS = (
    "first_night", "day_1", "day_3", "day_7", "day_14", "book_next_session",
    "book_next_session_again", "session_week_before", "session_day_before", "results_check_in",
)  # fmt: skip
TREATED_AT = datetime(2026, 11, 20, 17, 30, tzinfo=UTC)
NEXT_SESSION = TREATED_AT + timedelta(days=28)
# Sample arrivals: the treatment's day, the next day, the day before the next session.
DELIVERIES = (TREATED_AT, TREATED_AT + timedelta(days=1), NEXT_SESSION - timedelta(days=1))


def step_keys() -> list[str]:
    """The contract's keys plus any step of the shipped protocols."""
    keys = list(STEP_KEYS)
    for path in sorted(PROTOCOL_DIR.glob("*.toml")):
        steps = tomllib.loads(path.read_text()).get("steps", [])
        # Steps may be a list of tables with a `key`, or a table keyed by step.
        names = list(steps) if isinstance(steps, dict) else [s.get("key") for s in steps]
        keys += [name for name in names if isinstance(name, str) and name not in keys]
    return keys


def shipped_protocols() -> list[Protocol]:
    """Every protocol in the protocols directory, validated."""
    return [load_protocol(path.stem) for path in sorted(PROTOCOL_DIR.glob("*.toml"))]


def sample_context(
    sample: Sample, lang: str, first_sms: bool, delivered_at: datetime = TREATED_AT
) -> dict[str, Any]:
    """The context a real patient of a real clinic would get, built by composition."""
    now = TREATED_AT
    clinic = Clinic(id="lint", name=sample.clinic_name, phone=sample.clinic_phone,
                    booking_url=sample.booking_url, address=sample.clinic_address)  # fmt: skip
    patient = Patient(id=12345, clinic_id="lint", external_id="p", first_name=sample.first_name,
                      timezone="America/Los_Angeles", locale=lang,
                      phone="+14155550100")  # fmt: skip
    treatment = Treatment(clinic_id="lint", patient_id=12345, external_id="t", ended_at=now,
                          next_session_at=NEXT_SESSION)  # fmt: skip
    return context_for(
        patient, clinic, treatment, "https://reminders.example.org", first_sms, b"sample",
        delivered_at,
    )  # fmt: skip


def wording_problems(
    protocols: list[Protocol], key: str, text: str, context: dict[str, Any]
) -> list[str]:
    """Claims in a step's text that are not true yet when it may arrive (see [claims])."""
    return [
        problem
        for protocol in protocols
        for step in protocol.steps
        if step.key == key
        for problem in claim_problems(protocol.claims, key, step.not_before_hours, text, context)
    ]


def lint(
    directory: Path,
    sample: Sample,
    protocols: list[Protocol] | None = None,
    renderer: Renderer | None = None,
) -> list[Row]:
    """Every template of every language in `directory`, checked; rows with problems fail.

    `protocols` (default: the shipped ones) give the claims each step's wording may make;
    `renderer` (default: the directory's) may carry a clinic's overrides on top.
    """
    protocols = shipped_protocols() if protocols is None else protocols
    renderer = renderer or Renderer(directory)
    languages = renderer.languages()
    if not languages:
        return [Row("-", "-", "-", problems=[f"no templates under {directory}"])]
    # A new step in sms/ or email/ is linted as one; the answers, pages and alerts by name.
    found = {
        p.name.split(".")[0] for kind in ("sms", "email") for p in directory.glob(f"{kind}/*/*.*")
    }
    known = {*step_keys(), *REPLIES}
    keys = step_keys() + sorted(k for k in found - known if not k.startswith("_"))
    rows = []
    for key in keys:
        for lang in languages:
            rows.append(lint_sms(renderer, directory, key, lang, sample, protocols))
            rows.append(lint_email(renderer, directory, key, lang, sample, protocols))
    return rows + lint_answers(renderer, languages, sample)


def lint_sms(
    renderer: Renderer, directory: Path, key: str, lang: str, sample: Sample,
    protocols: list[Protocol],
) -> Row:  # fmt: skip
    row = Row(key, lang, "sms")
    if not (directory / "sms" / lang / f"{key}.txt").is_file():
        row.problems.append(f"missing sms/{lang}/{key}.txt")
        return row
    try:
        for first_sms in (True, False):
            for delivered_at in DELIVERIES:
                context = sample_context(sample, lang, first_sms, delivered_at)
                text = renderer.sms(key, lang, context)
                problems = sms_problems(text, lang, sample.clinic_name, first_sms)
                problems += wording_problems(protocols, key, text, context)
                row.problems += [p for p in dict.fromkeys(problems) if p not in row.problems]
            if first_sms:
                size = sms_size(text)
                row.encoding, row.size = size.encoding, f"{size.segments} ({size.units} units)"
    except TemplateError as exc:
        row.problems.append(f"does not render: {type(exc).__name__}: {exc}")
    return row


def lint_email(
    renderer: Renderer, directory: Path, key: str, lang: str, sample: Sample,
    protocols: list[Protocol],
) -> Row:  # fmt: skip
    row = Row(key, lang, "email", encoding="UTF-8")
    missing = [p for p in EMAIL_PARTS if not (directory / "email" / lang / f"{key}.{p}").is_file()]
    if missing:
        row.problems.append(f"missing email/{lang}/{key}.{{{','.join(missing)}}}")
        return row
    try:
        for delivered_at in DELIVERIES:
            context = sample_context(sample, lang, False, delivered_at)
            email = renderer.email(key, lang, context)
            for part in (email.subject, email.text, email.html):
                problems = wording_problems(protocols, key, part, context)
                row.problems += [p for p in dict.fromkeys(problems) if p not in row.problems]
    except TemplateError as exc:
        row.problems.append(f"does not render: {type(exc).__name__}: {exc}")
        return row
    context = sample_context(sample, lang, first_sms=False)
    email = renderer.email(key, lang, context)
    row.size = f"{len(email.text)} chars"
    row.problems += subject_problems(email.subject)
    if sample.clinic_name not in email.text:
        row.problems.append("the clinic's name is missing from the text part")
    for part, body in (("text", email.text), ("HTML", email.html)):
        if context["unsubscribe_url"] not in body:
            row.problems.append(f"no unsubscribe link in the {part} part")
    return row


templates_app = typer.Typer(help="Message templates.", no_args_is_help=True)


@templates_app.command("lint")
def lint_command(
    templates: Annotated[
        Path | None,
        typer.Option(help="Templates directory to check [default: REMINDERS_TEMPLATES_DIR]."),
    ] = None,
    clinic_name: Annotated[str, typer.Option(help="Render with this clinic name.")] = "",
    clinic_phone: Annotated[str, typer.Option(help="Render with this phone.")] = "",
    booking_url: Annotated[str, typer.Option(help="Render with this booking link.")] = "",
    first_name: Annotated[str, typer.Option(help="Render with this first name.")] = "",
) -> None:
    """Render every template with sample data; exit 1 on any rule broken."""
    templates = templates or load_settings().templates_dir
    base = Sample()
    sample = Sample(
        first_name=first_name or base.first_name,
        clinic_name=clinic_name or base.clinic_name,
        clinic_phone=clinic_phone or base.clinic_phone,
        booking_url=booking_url or base.booking_url,
    )
    rows = lint(templates, sample)
    table = Table(title=f"templates in {templates}")
    for column in ("step", "language", "channel", "encoding", "segments / length", "result"):
        table.add_column(column)
    for row in rows:
        result = f"[red]{escape('; '.join(row.problems))}[/red]" if row.problems else "[green]ok"
        table.add_row(row.step, row.lang, row.channel, row.encoding, row.size, result)
    console = Console(width=200)
    console.print(table)
    failed = sum(1 for row in rows if row.problems)
    if failed:
        console.print(f"[red]{failed} of {len(rows)} templates break a rule[/red]")
        raise typer.Exit(1)
    console.print(f"[green]all {len(rows)} templates pass[/green]")
