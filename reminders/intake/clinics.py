"""Clinic administration: create, list, rotate the webhook secret, change settings."""

from __future__ import annotations

import base64
import json
import re
import secrets
from datetime import datetime, time, timedelta
from typing import Any

import phonenumbers
from sqlmodel import Session, col, select

from reminders.intake.fields import SUPPORTED_LOCALES
from reminders.models import Clinic
from reminders.planning.facts import policy_of
from reminders.planning.overrides import apply_overrides, validate_overrides
from reminders.planning.planner import ClinicPolicy, PolicyError
from reminders.planning.protocol import Protocol, ProtocolError, load_protocol

ROTATION_GRACE = timedelta(hours=24)
CLINIC_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ClinicError(ValueError):
    """A clinic setting is invalid; the message names the setting."""


def new_secret() -> str:
    """A fresh Standard Webhooks secret: 'whsec_' + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def accepted_secrets(clinic: Clinic, now: datetime) -> list[str]:
    """The current secret, and the previous one while its rotation grace period lasts."""
    found = [clinic.webhook_secret] if clinic.webhook_secret else []
    expires = clinic.previous_secret_expires_at
    if clinic.previous_webhook_secret and expires is not None and now < expires:
        found.append(clinic.previous_webhook_secret)
    return found


def create_clinic(
    session: Session, clinic_id: str, name: str, **settings: Any
) -> tuple[Clinic, str]:
    """A new clinic with a fresh secret; returns the clinic and the secret (shown once)."""
    if not CLINIC_ID.match(clinic_id):
        raise ClinicError("id: lower-case letters, digits, '-' or '_', at most 64 characters")
    if session.get(Clinic, clinic_id) is not None:
        raise ClinicError(f"id: a clinic {clinic_id!r} already exists")
    if not name.strip():
        raise ClinicError("name: required")
    secret = new_secret()
    clinic = Clinic(id=clinic_id, name=name.strip(), webhook_secret=secret)
    apply_settings(clinic, settings)
    session.add(clinic)
    session.flush()
    return clinic, secret


def list_clinics(session: Session) -> list[Clinic]:
    """Every clinic, by id."""
    return list(session.exec(select(Clinic).order_by(col(Clinic.id))))


def rotate_secret(
    session: Session, clinic: Clinic, now: datetime, grace: timedelta = ROTATION_GRACE
) -> str:
    """Issue a new secret; the old one keeps working for `grace` so senders can switch over."""
    secret = new_secret()
    clinic.previous_webhook_secret = clinic.webhook_secret
    clinic.previous_secret_expires_at = now + grace
    clinic.webhook_secret = secret
    session.add(clinic)
    session.flush()
    return secret


def apply_settings(clinic: Clinic, settings: dict[str, Any]) -> None:
    """Validate and set the given settings (None values are left alone)."""
    for name, value in settings.items():
        if value is None:
            continue
        if name not in SETTERS:
            raise ClinicError(f"{name}: not a clinic setting; one of {sorted(SETTERS)}")
        SETTERS[name](clinic, value)
    checked_policy(clinic)


# The planner's policy fields, as the settings that set them are named.
POLICY_SETTINGS = {"window_start": "window", "window_end": "window"}


def unworkable_setting(clinic: Clinic) -> tuple[str, str] | None:
    """The setting the planner cannot work with and its rule, or None if all can work."""
    try:
        policy_of(clinic)
    except PolicyError as exc:
        return POLICY_SETTINGS.get(exc.field, exc.field), exc.problem
    return None


def checked_policy(clinic: Clinic) -> ClinicPolicy:
    """The clinic's sending policy, or ClinicError naming the setting that cannot work."""
    problem = unworkable_setting(clinic)
    if problem is not None:
        raise ClinicError(f"{problem[0]}: {problem[1]}")
    return policy_of(clinic)


def _phone(clinic: Clinic, value: str) -> None:
    try:
        number = phonenumbers.parse(value, clinic.default_region)
    except phonenumbers.NumberParseException:
        raise ClinicError("phone: not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ClinicError("phone: not a valid phone number")
    clinic.phone = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _email(clinic: Clinic, value: str) -> None:
    from email_validator import EmailNotValidError, validate_email

    try:
        clinic.email = validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ClinicError(f"email: {exc}") from None


def _region(clinic: Clinic, value: str) -> None:
    if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ClinicError("default_region: a two-letter region code such as US or ES")
    clinic.default_region = value.upper()


def _window(clinic: Clinic, value: str) -> None:
    try:
        start, end = (time.fromisoformat(part.strip()) for part in value.split("-"))
    except ValueError:
        raise ClinicError("window: local hours like '08:00-20:00'") from None
    clinic.window_start, clinic.window_end = start, end


def _locale(clinic: Clinic, value: str) -> None:
    if value not in SUPPORTED_LOCALES:
        raise ClinicError(f"locale: one of {', '.join(SUPPORTED_LOCALES)}")
    clinic.locale = value


def _url(clinic: Clinic, value: str) -> None:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ClinicError("booking_url: an http(s) URL")
    clinic.booking_url = value


def _overrides(clinic: Clinic, value: str | dict[str, Any]) -> None:
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as exc:
        raise ClinicError(f"protocol_overrides: not JSON: {exc}") from None
    try:
        validate_overrides(load_protocol(clinic.protocol), data, "protocol_overrides")
    except ProtocolError as exc:
        raise ClinicError(str(exc)) from None
    clinic.protocol_overrides = data


def _text(field: str, limit: int) -> Any:
    def set_text(clinic: Clinic, value: str) -> None:
        if len(value) > limit:
            raise ClinicError(f"{field}: at most {limit} characters")
        setattr(clinic, field, value.strip())

    return set_text


SETTERS = {
    "name": _text("name", 200),
    "address": _text("address", 300),
    "default_region": _region,
    "phone": _phone,
    "email": _email,
    "booking_url": _url,
    "window": _window,
    "locale": _locale,
    "protocol_overrides": _overrides,
}


def protocol_for(clinic: Clinic) -> Protocol:
    """The protocol this clinic's patients follow, overrides applied."""
    source = f"clinic {clinic.id!r} protocol_overrides"
    return apply_overrides(load_protocol(clinic.protocol), clinic.protocol_overrides, source)
