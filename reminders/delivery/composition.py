"""PURE: build the template context and the Outgoing message for one outbox row."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton, format_time, get_datetime_format

from reminders.channels.base import Outgoing
from reminders.consent.unsubscribe import PATH, token_for
from reminders.delivery.rendering import Renderer
from reminders.intake.fields import phone_for_reader
from reminders.models import Clinic, Message, Patient, Treatment


def context_for(
    patient: Patient,
    clinic: Clinic,
    treatment: Treatment,
    public_url: str,
    first_sms: bool,
    link_key: bytes,
    delivered_at: datetime,
) -> dict[str, Any]:
    """Everything a template may use; dates in the patient's zone and language.

    `first_name` is '' when unknown (templates greet without it); `session_at` is the long
    form for email, `session_at_short` the compact one for SMS; both '' without a session.
    `delivered_at` (when the message goes) sets the wording flags of timing_flags().
    """
    zone = ZoneInfo(patient.timezone)
    locale = babel_locale(patient.locale)
    base = public_url.rstrip("/")
    session = treatment.next_session_at
    return {
        "first_name": (patient.first_name or "").strip(),
        "clinic_name": clinic.name,
        "clinic_phone": phone_for_reader(clinic.phone, patient.phone),
        "clinic_address": clinic.address,
        "clinic_email": clinic.email,
        "booking_url": clinic.booking_url,
        "session_at": local_text(session, zone, locale),
        "session_at_short": local_text(session, zone, locale, short=True),
        "has_session": session is not None,
        "treated_at": local_text(treatment.ended_at, zone, locale),
        "first_sms": first_sms,
        "unsubscribe_url": base + PATH + token_for(patient.id or 0, link_key),
        **timing_flags(treatment.ended_at, session, delivered_at, zone),
    }


def timing_flags(
    treated_at: datetime, session_at: datetime | None, delivered_at: datetime, zone: ZoneInfo
) -> dict[str, bool]:
    """Which time words are true when a message arrives, by the patient's calendar.

    `on_treatment_day`: "tonight" / "today" still mean the day of the treatment.
    `session_tomorrow`: the booked session is on the next local day.
    """
    day = delivered_at.astimezone(zone).date()
    session_day = None if session_at is None else session_at.astimezone(zone).date()
    return {
        "on_treatment_day": treated_at.astimezone(zone).date() == day,
        "session_tomorrow": session_day is not None and (session_day - day).days == 1,
    }


def babel_locale(locale: str) -> Locale:
    """The patient's locale for babel ('es-MX' works), English when unknown."""
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse("en")


def local_text(moment: datetime | None, zone: ZoneInfo, locale: Locale, short: bool = False) -> str:
    """A datetime as the patient reads it: their zone, their language ('' when absent).

    Long: 'Saturday, December 5, 2026, 10:00 AM'; short: 'Sat, Dec 5, 10:00 AM'.
    """
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    if short:
        date = format_skeleton("MMMEd", local, locale=locale)
        glue = get_datetime_format("short", locale)
    else:
        date = format_date(local, "full", locale=locale)
        glue = get_datetime_format("long", locale)
    clock = format_time(local, "short", tzinfo=zone, locale=locale)
    text = str(glue).replace("'", "").replace("{1}", date).replace("{0}", clock)
    # CLDR puts narrow no-break spaces in times ('10:00\u202fAM'); plain spaces read the same.
    return text.replace("\u202f", " ").replace("\u00a0", " ")


def compose(
    message: Message,
    patient: Patient,
    clinic: Clinic,
    treatment: Treatment,
    renderer: Renderer,
    public_url: str,
    first_sms: bool,
    link_key: bytes,
    delivered_at: datetime,
) -> Outgoing:
    """Render a row into the Outgoing its channel sends; `link_key` signs unsubscribe links."""
    context = context_for(patient, clinic, treatment, public_url, first_sms, link_key, delivered_at)
    assert message.id is not None
    if message.channel == "sms":
        return Outgoing(
            message_id=message.id,
            idempotency_key=message.idempotency_key,
            channel="sms",
            to=patient.phone or "",
            text=renderer.sms(message.step_key, patient.locale, context),
            clinic_name=clinic.name,
            valid_until=message.valid_until,
        )
    email = renderer.email(message.step_key, patient.locale, context)
    return Outgoing(
        message_id=message.id,
        idempotency_key=message.idempotency_key,
        channel="email",
        to=patient.email or "",
        text=email.text,
        subject=email.subject,
        html=email.html,
        clinic_name=clinic.name,
        unsubscribe_url=context["unsubscribe_url"],
        reply_to=clinic.email,
        valid_until=message.valid_until,
    )
