"""`reminders clinics ...` and `reminders webhook send`: clinic administration from the shell."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from reminders.channels.senders import UNCONFIGURED, own_key, platform_sender
from reminders.cli.replans import poke_worker, replan, replan_status
from reminders.cli.webhook_sender import send_event
from reminders.config import load_settings
from reminders.db import make_engine, require_migrated, session_scope
from reminders.intake.clinics import (
    ClinicError,
    create_clinic,
    list_clinics,
    rotate_secret,
    update_clinic,
)
from reminders.intake.events import EVENT_TYPES
from reminders.models import Clinic
from reminders.ops.audit import cli_actor
from reminders.planning.replanjobs import planning_changed, queued_job

clinics_app = typer.Typer(help="Clinics: create, list, change settings, rotate secrets.")
webhook_app = typer.Typer(help="Try the clinic webhook from the shell.")
SECRET_ENV = "REMINDERS_WEBHOOK_SECRET"
console = Console()
TOKEN_ENV = "REMINDERS_CLINIC_TWILIO_AUTH_TOKEN"

Name = Annotated[str | None, typer.Option(help="Clinic name shown to patients.")]
Phone = Annotated[str | None, typer.Option(help="Clinic phone, shown in HELP replies.")]
Email = Annotated[str | None, typer.Option(help="Where warning-sign alerts go.")]
Booking = Annotated[str | None, typer.Option("--booking-url", help="Booking page URL.")]
Region = Annotated[str | None, typer.Option("--region", help="Region for national numbers (US).")]
Window = Annotated[str | None, typer.Option(help="Local sending window, e.g. 08:00-20:00.")]
Locale = Annotated[
    str | None, typer.Option(help="Language of new patients whose events name none: en or es.")
]
SmsPerDay = Annotated[
    int | None, typer.Option("--sms-per-day", help="SMS cap per local day, 0-24 (0: no SMS).")
]
SmsPerWeek = Annotated[
    int | None, typer.Option("--sms-per-week", help="SMS cap per rolling 7 days, 0-168.")
]
Overrides = Annotated[
    str | None,
    typer.Option(
        "--protocol-overrides", help='JSON or @file.json: {"steps": {"day_1": {"at": "09:00"}}}.'
    ),
]

SmsFrom = Annotated[
    str | None, typer.Option("--sms-from", help="The clinic's own Twilio number (E.164).")
]
ServiceSid = Annotated[
    str | None,
    typer.Option("--messaging-service-sid", help="The clinic's own Messaging Service (MG...)."),
]
AccountSid = Annotated[
    str | None,
    typer.Option(
        "--twilio-account-sid",
        help=f"The clinic's own Twilio (sub)account (AC...); its auth token is read from "
        f"${TOKEN_ENV} or asked for, never echoed.",
    ),
]
DefaultSender = Annotated[
    bool, typer.Option("--default-sender", help="Go back to the platform's sender and account.")
]


def settings_of(**options: Any) -> dict[str, Any]:
    """Option values as clinic settings; '@path' reads overrides from a file."""
    overrides = options.pop("protocol_overrides", None)
    if overrides and overrides.startswith("@"):
        overrides = Path(overrides[1:]).read_text(encoding="utf-8")
    return {**options, "protocol_overrides": overrides}


def sender_settings(
    sms_from: str | None, service_sid: str | None, account_sid: str | None, default: bool
) -> dict[str, Any]:
    """The sender options as clinic settings; the account's token from the env or a prompt."""
    token = None
    if account_sid is not None:
        token = os.environ.get(TOKEN_ENV) or typer.prompt(
            "Auth token of that account", hide_input=True
        )
    return {
        "sms_from": sms_from,
        "sms_messaging_service_sid": service_sid,
        "twilio_account_sid": account_sid,
        "twilio_auth_token": token,
        "default_sender": default or None,
    }


def refuse_platform_sender(clinic: Clinic) -> None:
    """A clinic's own sender or account must not be the platform's: shared unawares."""
    settings = load_settings()
    platform = platform_sender(settings)
    if own_key(clinic) and own_key(clinic) in (platform.from_, platform.messaging_service_sid):
        raise ClinicError("sender: that is the platform's sender; use --default-sender")
    if clinic.twilio_account_sid and clinic.twilio_account_sid == settings.twilio_account_sid:
        raise ClinicError(
            "twilio_account_sid: that is the platform's account; leave --twilio-account-sid out"
        )


def sender_text(clinic: Clinic, platform_key: str) -> str:
    """Which sender the clinic uses, for `clinics list` (never the token)."""
    if not own_key(clinic):
        shown = "console: Twilio not set up" if platform_key == UNCONFIGURED else platform_key
        return f"platform ({shown})"
    account = f", account {clinic.twilio_account_sid}" if clinic.twilio_account_sid else ""
    return own_key(clinic) + account


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
def list_command() -> None:
    """Every clinic with its settings (never its secrets)."""
    with session_scope(engine_now()) as session:
        clinics = list_clinics(session)
    platform = platform_sender(load_settings())
    table = Table(title="clinics")
    columns = ("id", "name", "phone", "alert email", "region", "window", "SMS caps", "locale",
               "overrides", "sms sender")  # fmt: skip
    for column in columns:
        table.add_column(column)
    for clinic in clinics:
        window = f"{clinic.window_start:%H:%M}-{clinic.window_end:%H:%M}"
        caps = f"{clinic.sms_per_day}/day {clinic.sms_per_week}/week"
        overrides = ", ".join(sorted(clinic.protocol_overrides or {})) or "-"
        table.add_row(
            clinic.id, clinic.name, clinic.phone, clinic.email, clinic.default_region,
            window, caps, clinic.locale, overrides, sender_text(clinic, platform.key),
        )  # fmt: skip
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
) -> None:
    """Change a clinic's settings; a change to its window, caps or overrides re-plans it."""
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

    with session_scope(engine_now()) as session:
        clinic = session.get(Clinic, clinic_id)
        if clinic is None:
            fail(f"no clinic {clinic_id!r}")
        assert clinic is not None
        now = datetime.now(UTC)
        secret = rotate_secret(session, clinic, now, timedelta(hours=grace_hours), cli_actor())
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


@webhook_app.command("send")
def send(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    kind: Annotated[str, typer.Option("--type", help=f"One of {', '.join(EVENT_TYPES)}.")],
    data: Annotated[str, typer.Option(help="The event's data: a JSON file, or '-' for stdin.")],
    url: Annotated[str, typer.Option(help="API base URL.")] = "",
    webhook_id: Annotated[str | None, typer.Option(help="Reuse an id to test replays.")] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(help=f"A file holding the clinic's whsec_... secret (else ${SECRET_ENV})."),
    ] = None,
) -> None:
    """Sign an event with the clinic's secret, post it and print the answer."""
    # Never a command-line argument: those show in `ps` and in shell history.
    secret = read_secret(secret_file)
    raw = sys.stdin.read() if data == "-" else Path(data).read_text(encoding="utf-8")
    base = url or load_settings().public_url
    try:
        response = send_event(base, clinic, secret, kind, json.loads(raw), webhook_id)
    except (httpx.HTTPError, json.JSONDecodeError) as exc:
        fail(str(exc))
    print(f"HTTP {response.status_code}")
    print(json.dumps(response.json(), indent=2) if response.content else "")
    if response.status_code >= 300:
        raise typer.Exit(1)


def read_secret(secret_file: Path | None) -> str:
    """The signing secret from --secret-file, else from $REMINDERS_WEBHOOK_SECRET."""
    if secret_file is not None:
        try:
            secret = secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            fail(f"--secret-file: cannot read {secret_file}: {exc.strerror}")
    else:
        secret = os.environ.get(SECRET_ENV, "").strip()
    if not secret:
        fail(f"no secret: set {SECRET_ENV} or pass --secret-file FILE (never the secret itself)")
    return secret
