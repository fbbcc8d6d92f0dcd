"""`reminders preview`: show a patient's planned timeline without touching a database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from reminders.config import load_settings
from reminders.delivery.composition import timing_flags
from reminders.delivery.rendering import Renderer
from reminders.planning.overrides import apply_overrides
from reminders.planning.planner import (
    ClinicPolicy,
    Course,
    PatientFacts,
    PlannedMessage,
    plan,
    zone_of,
)
from reminders.planning.protocol import CHANNELS, Protocol, ProtocolError, load_protocol


# Long only by its signature: one line per command-line option.
def preview(
    treated_at: Annotated[str, typer.Option(help="When the treatment ended (ISO 8601).")],
    tz: Annotated[str, typer.Option(help="Patient's IANA time zone.")],
    session: Annotated[int, typer.Option(help="This session's number in the course.")] = 1,
    sessions: Annotated[int, typer.Option(help="Sessions planned in the course.")] = 1,
    next_session: Annotated[
        str | None, typer.Option(help="Booked next session (ISO 8601).")
    ] = None,
    channels: Annotated[str, typer.Option(help="Channels the patient consented to.")] = (
        "sms,email"
    ),
    locale: Annotated[str, typer.Option(help="Patient's language.")] = "en",
    window: Annotated[
        str, typer.Option(help="Sending window, local HH:MM-HH:MM (equal: any time).")
    ] = "08:00-20:00",
    protocol: Annotated[str, typer.Option(help="Protocol name.")] = "microneedling",
    overrides: Annotated[
        str, typer.Option(help='A clinic\'s step overrides as JSON: {"steps": {...}}.')
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Print the timeline of prompts a treatment would get (pure: no database)."""
    try:
        zone = zone_of(tz)
        patient = PatientFacts(timezone=tz, locale=locale, channels=channel_set(channels))
        ended = moment(treated_at, zone.key, "--treated-at")
        course = Course(
            session_number=session,
            sessions_planned=sessions,
            next_session_at=None
            if next_session is None
            else moment(next_session, zone.key, "--next-session"),
        )
        messages = plan(
            ended,
            patient,
            overridden(load_protocol(protocol), overrides),
            window_policy(window),
            course,
        )
    except (ValueError, ProtocolError) as exc:
        raise typer.BadParameter(str(exc)) from None
    renderer = Renderer(load_settings().templates_dir)
    words = [wording(renderer, m, ended, course, locale) for m in messages]
    if as_json:
        records = [as_record(m) | {"wording": w} for m, w in zip(messages, words, strict=True)]
        typer.echo(json.dumps(records, indent=2))
    else:
        Console().print(timeline(messages, words, tz))


# How the time-dependent wording reads, by flag (see composition.timing_flags): false, true.
FLAG_WORDS = {
    "on_treatment_day": ("first 24 h, not 'tonight'", "tonight"),
    "session_tomorrow": ("session date, not 'tomorrow'", "tomorrow"),
}


def wording(
    renderer: Renderer, message: PlannedMessage, ended: datetime, course: Course, locale: str
) -> str:
    """Which variant of its wording a message gets when it arrives, for flags it uses."""
    zone = ZoneInfo(message.timezone)
    flags = timing_flags(ended, course.next_session_at, message.due_at, zone)
    used = renderer.variables(message.channel, message.key, locale)
    return ", ".join(FLAG_WORDS[name][value] for name, value in flags.items() if name in used)


def overridden(protocol: Protocol, text: str) -> Protocol:
    """The protocol with overrides given as JSON text applied (validated)."""
    if not text:
        return protocol
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--overrides: not valid JSON ({exc})") from None
    return apply_overrides(protocol, data, "--overrides")


def moment(text: str, tz: str, field: str) -> datetime:
    """An ISO 8601 time; without an offset it is read as local time in `tz`."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{field}: {text!r} is not an ISO 8601 date and time") from None
    return value if value.tzinfo else value.replace(tzinfo=zone_of(tz))


def channel_set(text: str) -> frozenset[str]:
    """`sms,email` -> {"sms", "email"}; empty means no consent at all."""
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = names - set(CHANNELS)
    if unknown:
        raise ValueError(f"channels: unknown {sorted(unknown)}; choose from {CHANNELS}")
    return names


def window_policy(text: str) -> ClinicPolicy:
    """`08:00-20:00` -> a policy with that window and the default caps."""
    start, sep, end = text.partition("-")
    try:
        return ClinicPolicy(
            window_start=time.fromisoformat(start), window_end=time.fromisoformat(end)
        )
    except ValueError as exc:
        if not sep or "wraps" not in str(exc):
            raise ValueError(f"window: {text!r}: expected HH:MM-HH:MM ({exc})") from None
        raise


def as_record(message: PlannedMessage) -> dict[str, str | None]:
    """One planned message as plain JSON values."""
    return {
        "key": message.key,
        "channel": message.channel,
        "due_at": utc_text(message.due_at),
        "local_due_at": message.local_due_at.isoformat(),
        "valid_until": None if message.valid_until is None else utc_text(message.valid_until),
        "status": message.status,
        "reason": message.reason,
        "protocol_version": message.protocol_version,
    }


def utc_text(value: datetime) -> str:
    """ISO 8601 in UTC with a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def timeline(messages: list[PlannedMessage], words: list[str], tz: str) -> Table:
    """The plan as a rich table."""
    table = Table(title=f"aftercare timeline ({tz})")
    for column in ("local time", "UTC", "step", "channel", "status", "wording", "reason"):
        table.add_column(column, no_wrap=column != "reason")
    for message, flags in zip(messages, words, strict=True):
        table.add_row(
            message.local_due_at.strftime("%a %Y-%m-%d %H:%M %Z"),
            message.due_at.strftime("%Y-%m-%d %H:%M"),
            message.key,
            message.channel,
            message.status,
            flags,
            message.reason or "",
        )
    return table
