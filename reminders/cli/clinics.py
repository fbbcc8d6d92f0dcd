"""`reminders clinics ...`: clinic administration from the shell."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from reminders.channels.senders import platform_sender
from reminders.cli.clinic_options import (
    AccountSid,
    Booking,
    DefaultSender,
    Email,
    Locale,
    Name,
    Overrides,
    Phone,
    Region,
    ServiceSid,
    SmsFrom,
    SmsPerDay,
    SmsPerWeek,
    Window,
    refuse_platform_sender,
    sender_settings,
    settings_of,
)
from reminders.cli.clinic_view import clinic_settings, removal
from reminders.cli.replans import poke_worker, replan, replan_status
from reminders.config import load_settings
from reminders.db import make_engine, require_migrated, session_scope
from reminders.intake.clinics import (
    ClinicError,
    create_clinic,
    list_clinics,
    rotate_secret,
    update_clinic,
)
from reminders.models import Clinic
from reminders.ops.audit import cli_actor
from reminders.planning.replanjobs import planning_changed, queued_job

clinics_app = typer.Typer(help="Clinics: create, list, change settings, rotate secrets.")
console = Console()


def fail(message: str) -> None:
    """One clear line on stderr, exit 1."""
    print(f"reminders: {message}", file=sys.stderr)
    raise typer.Exit(1)


def engine_now() -> Any:
    """A migrated engine from settings."""
    engine = make_engine(load_settings().effective_database_url)
    require_migrated(engine)
    return engine


@clinics_app.command("create")
def create(
    clinic_id: Annotated[str, typer.Argument(help="Short id used in the webhook URL.")],
    name: Annotated[str, typer.Option(help="Clinic name shown to patients.")],
    phone: Phone = None,
    email: Email = None,
    booking_url: Booking = None,
    region: Region = None,
    window: Window = None,
    locale: Locale = None,
    protocol_overrides: Overrides = None,
    sms_per_day: SmsPerDay = None,
    sms_per_week: SmsPerWeek = None,
    sms_from: SmsFrom = None,
    messaging_service_sid: ServiceSid = None,
    twilio_account_sid: AccountSid = None,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"id", "secret"}.')] = False,
) -> None:
    """Create a clinic and print its webhook secret (shown only this once)."""
    values = settings_of(
        default_region=region, phone=phone, email=email, booking_url=booking_url,
        window=window, locale=locale, protocol_overrides=protocol_overrides,
        sms_per_day=sms_per_day, sms_per_week=sms_per_week,
        **sender_settings(sms_from, messaging_service_sid, twilio_account_sid, False),
    )  # fmt: skip
    try:
        with session_scope(engine_now()) as session:
            clinic, secret = create_clinic(session, clinic_id, name, cli_actor(), **values)
            refuse_platform_sender(clinic)
    except ClinicError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps({"id": clinic.id, "secret": secret}))
        return
    console.print(f"created clinic [bold]{clinic.id}[/bold]; webhook secret (shown once):")
    print(secret)


@clinics_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Every clinic with every setting (never its secrets)."""
    with session_scope(engine_now()) as session:
        clinics = list_clinics(session)
    platform = platform_sender(load_settings())
    every = [clinic_settings(clinic, platform.key) for clinic in clinics]
    if as_json:
        print(json.dumps(every, indent=2))
        return
    if not every:
        console.print("no clinics yet: reminders clinics create ID --name NAME")
    for settings in every:
        table = Table(title=f"clinic {settings['id']}", show_header=False)
        table.add_column("setting", style="bold")
        table.add_column("value")
        for name, value in settings.items():
            shown = json.dumps(value) if isinstance(value, dict) else value
            table.add_row(name, "-" if shown in ("", None, "{}") else str(shown))
        console.print(table)


@clinics_app.command("set")
def set_command(
    clinic_id: str,
    name: Name = None,
    phone: Phone = None,
    email: Email = None,
    booking_url: Booking = None,
    region: Region = None,
    window: Window = None,
    locale: Locale = None,
    protocol_overrides: Overrides = None,
    sms_per_day: SmsPerDay = None,
    sms_per_week: SmsPerWeek = None,
    sms_from: SmsFrom = None,
    messaging_service_sid: ServiceSid = None,
    twilio_account_sid: AccountSid = None,
    default_sender: DefaultSender = False,
    remove_override: Annotated[
        list[str] | None,
        typer.Option(help="Remove a step's overrides (repeatable), e.g. --remove-override day_1."),
    ] = None,
) -> None:
    """Change a clinic's settings; a change to its window, caps or overrides re-plans it.

    --protocol-overrides is merged into the stored overrides (a JSON null removes one).
    """
    if remove_override:
        try:
            protocol_overrides = removal(protocol_overrides, remove_override)
        except ClinicError as exc:
            fail(str(exc))
    values = settings_of(
        name=name, default_region=region, phone=phone, email=email, booking_url=booking_url,
        window=window, locale=locale, protocol_overrides=protocol_overrides,
        sms_per_day=sms_per_day, sms_per_week=sms_per_week,
        **sender_settings(sms_from, messaging_service_sid, twilio_account_sid, default_sender),
    )  # fmt: skip
    try:
        with session_scope(engine_now()) as session:
            clinic = session.get(Clinic, clinic_id)
            if clinic is None:
                raise ClinicError(f"no clinic {clinic_id!r}")
            changed = update_clinic(session, clinic, values, cli_actor())
            refuse_platform_sender(clinic)
            job = queued_job(session, clinic_id) if planning_changed(changed) else None
    except ClinicError as exc:
        fail(str(exc))
    console.print(f"updated clinic {clinic_id}")
    if job is not None and job.id is not None:
        poke_worker(load_settings(), job.id)
        console.print(
            f"re-plan job {job.id} queued: the clinic's pending messages follow the new settings "
            f"in the background.\n  watch it:  reminders clinics replan-status {clinic_id} "
            f"--watch\n  no worker running?  reminders clinics replan {clinic_id} --here"
        )


@clinics_app.command("rotate-secret")
def rotate(
    clinic_id: str,
    grace_hours: Annotated[float, typer.Option(help="How long the old secret still works.")] = 24,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"id", "secret"}.')] = False,
) -> None:
    """Issue a new webhook secret; the old one keeps working for the grace period."""
    from datetime import timedelta

    try:
        with session_scope(engine_now()) as session:
            clinic = session.get(Clinic, clinic_id)
            if clinic is None:
                raise ClinicError(f"no clinic {clinic_id!r}")
            grace = timedelta(hours=grace_hours)
            secret = rotate_secret(session, clinic, datetime.now(UTC), grace, cli_actor())
    except ClinicError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps({"id": clinic_id, "secret": secret}))
        return
    console.print(f"new secret for {clinic_id}; the old one works for {grace_hours:g} more hours:")
    print(secret)


@clinics_app.command("events")
def events_command(
    clinic_id: str,
    url: Annotated[str, typer.Option(help="The clinic's https:// endpoint for events.")] = "",
    off: Annotated[bool, typer.Option("--off", help="Post no more events.")] = False,
    rotate: Annotated[bool, typer.Option("--rotate-secret", help="Issue a new secret.")] = False,
) -> None:
    """Set, show or remove where a clinic's events go; prints a new secret once."""
    from reminders.events.endpoint import remove_endpoint, rotate_secret, set_endpoint

    settings, now, secret = load_settings(), datetime.now(UTC), None
    try:
        with session_scope(engine_now()) as session:
            clinic = session.get(Clinic, clinic_id)
            if clinic is None:
                raise ClinicError(f"no clinic {clinic_id!r}")
            if off:
                remove_endpoint(session, clinic, cli_actor(), now)
            elif url:
                allow = settings.events_allow_local_http
                secret = set_endpoint(session, clinic, url, cli_actor(), now,
                                      allow_local_http=allow, rotate=rotate)  # fmt: skip
            elif rotate:
                secret = rotate_secret(session, clinic, cli_actor(), now)
            shown = clinic.events_url
    except ClinicError as exc:
        fail(str(exc))
    console.print(f"events of {clinic_id} go to: {shown or '(nowhere)'}")
    if secret:
        console.print("signing secret (shown once; verify with Standard Webhooks):")
        print(secret)


# Defined in their own module; listed after the commands above.
clinics_app.command("replan")(replan)
clinics_app.command("replan-status")(replan_status)
