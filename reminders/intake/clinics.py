"""Clinic administration: create, list, rotate the webhook secret, change settings."""

from __future__ import annotations

import base64
import json
import re
import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError
from sqlmodel import Session, col, select

from reminders.intake.fields import (
    AccountSid,
    AuthToken,
    Email,
    Locale,
    Model,
    Phone,
    Region,
    ServiceSid,
    Url,
    Window,
    problems,
)
from reminders.models import Clinic, utcnow
from reminders.ops import audit
from reminders.planning.facts import policy_of
from reminders.planning.overrides import apply_overrides, merged_overrides, validate_overrides
from reminders.planning.planner import ClinicPolicy, PolicyError
from reminders.planning.protocol import Protocol, ProtocolError, load_protocol
from reminders.planning.replanjobs import planning_changed, request_replan

ROTATION_GRACE = timedelta(hours=24)
MAX_SMS_PER_DAY = 24
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


def audited_fields(clinic: Clinic) -> dict[str, Any]:
    """The clinic's settings as the audit trail records them (secrets are masked there)."""
    return clinic.model_dump(exclude={"created_at"})


def create_clinic(
    session: Session, clinic_id: str, name: str, actor: str = "system", **settings: Any
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
    after = audited_fields(clinic)
    audit.record(session, actor, "clinic create", clinic_id=clinic.id, target=f"clinic:{clinic.id}",
                 after=after)  # fmt: skip
    return clinic, secret


def update_clinic(
    session: Session, clinic: Clinic, settings: dict[str, Any], actor: str
) -> dict[str, Any]:
    """Validate and apply settings, audit what changed; returns the changed fields' new values."""
    before = audited_fields(clinic)
    apply_settings(clinic, settings)
    session.add(clinic)
    old, new = audit.changed_only(before, audited_fields(clinic))
    if new:
        audit.record(session, actor, "clinic update", clinic_id=clinic.id,
                     target=f"clinic:{clinic.id}", before=old, after=new)  # fmt: skip
    session.flush()
    replanned = planning_changed(new)
    if replanned:
        # The clinic's open rows follow the new settings in the background (planning/
        # clinicreplan.py), in the same transaction as the change so none is ever missed.
        names = sorted({POLICY_SETTINGS.get(name, name) for name in replanned})
        reason = f"clinic settings changed: {', '.join(names)}"
        request_replan(session, clinic.id, actor, reason, utcnow())
    return new


def clinic_with_account(session: Session, account_sid: str) -> Clinic | None:
    """A clinic whose own Twilio (sub)account this is, if any."""
    return session.exec(
        select(Clinic).where(Clinic.twilio_account_sid == account_sid).limit(1)
    ).first()


def list_clinics(session: Session) -> list[Clinic]:
    """Every clinic, by id."""
    return list(session.exec(select(Clinic).order_by(col(Clinic.id))))


def rotate_secret(
    session: Session,
    clinic: Clinic,
    now: datetime,
    grace: timedelta = ROTATION_GRACE,
    actor: str = "system",
) -> str:
    """Issue a new secret; the old one keeps working for `grace` so senders can switch over."""
    if grace < timedelta(0):
        raise ClinicError("grace: cannot be negative (0 ends the old secret at once)")
    secret = new_secret()
    clinic.previous_webhook_secret = clinic.webhook_secret
    clinic.previous_secret_expires_at = now + grace
    before = {"webhook_secret": clinic.previous_webhook_secret}
    clinic.webhook_secret = secret
    session.add(clinic)
    grace_end = f"old secret accepted until {now + grace:%Y-%m-%d %H:%M} UTC"
    audit.record(
        session,
        actor,
        "secret rotate",
        clinic_id=clinic.id,
        target=f"clinic:{clinic.id}",
        before=before,
        after={"webhook_secret": secret},
        detail=grace_end,
        now=now,
    )
    session.flush()
    return secret


def _overrides(value: Any, info: ValidationInfo) -> Any:
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as exc:
        raise PydanticCustomError("json", "not JSON: {why}", {"why": str(exc)}) from None
    # Given overrides are laid over the stored ones (null removes one), never replace them.
    data = merged_overrides((info.context or {}).get("overrides") or {}, data)
    try:
        validate_overrides(
            load_protocol((info.context or {})["protocol"]), data, "protocol_overrides"
        )
    except ProtocolError as exc:
        where = f"step {exc.step!r}, field {exc.field!r}: {exc.problem}"
        raise PydanticCustomError("overrides", "{why}", {"why": where}) from None
    return data


class ClinicSettings(Model):
    """The settings an operator may change; phone numbers are read in the clinic's region."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None
    default_region: Region | None = None  # before phone, which is read in it
    phone: Phone | None = None
    email: Email | None = None
    booking_url: Url | None = None
    window: Window | None = None
    locale: Locale | None = None
    protocol_overrides: Annotated[Any, AfterValidator(_overrides)] = None
    # At most one an hour: a cap is there to keep texting rare, not to be worked around.
    sms_per_day: Annotated[int, Field(ge=0, le=MAX_SMS_PER_DAY)] | None = None
    sms_per_week: Annotated[int, Field(ge=0, le=7 * MAX_SMS_PER_DAY)] | None = None
    # The clinic's own Twilio sender: a number or a Messaging Service (setting one clears the
    # other), optionally in its own (sub)account; default_sender goes back to the platform's.
    default_sender: bool | None = None
    sms_from: Phone | None = None
    sms_messaging_service_sid: ServiceSid | None = None
    twilio_account_sid: AccountSid | None = None
    twilio_auth_token: AuthToken | None = None


SENDER_FIELDS = ("sms_from", "sms_messaging_service_sid", "twilio_account_sid", "twilio_auth_token")


def apply_settings(clinic: Clinic, settings: dict[str, Any]) -> None:
    """Validate and set the given settings (None values are left alone).

    ClinicError names every problem at once: each invalid field, then what the valid ones
    would make of the sender and the sending policy.
    """
    given = {name: value for name, value in settings.items() if value is not None}
    context = {
        "region": clinic.default_region,
        "protocol": clinic.protocol,
        "overrides": clinic.protocol_overrides,
    }
    found: list[str] = []
    try:
        checked = ClinicSettings.model_validate(given, context=context)
    except ValidationError as exc:
        bad = problems(exc)
        found += [f"{p['field']}: {p['problem']}" for p in bad]
        invalid = {p["field"].split(".")[0] for p in bad}
        valid = {name: value for name, value in given.items() if name not in invalid}
        try:
            checked = ClinicSettings.model_validate(valid, context=context)
        except ValidationError:  # a field valid alone but not with the others: stop here
            raise ClinicError("; ".join(found)) from None
    try:
        set_sender(clinic, checked)
    except ClinicError as exc:
        found.append(str(exc))
    for name in checked.model_fields_set - {"window", "default_sender", *SENDER_FIELDS}:
        setattr(clinic, name, getattr(checked, name))
    if checked.window is not None:
        clinic.window_start, clinic.window_end = checked.window
    problem = unworkable_setting(clinic)
    if problem is not None:
        found.append(f"{problem[0]}: {problem[1]}")
    if found:
        raise ClinicError("; ".join(found))


def set_sender(clinic: Clinic, checked: ClinicSettings) -> None:
    """Apply the sender settings; ClinicError when they do not make one whole sender."""
    if checked.default_sender:
        if checked.model_fields_set & set(SENDER_FIELDS):
            raise ClinicError("default_sender: cannot be combined with a sender of the clinic's")
        for name in SENDER_FIELDS:
            setattr(clinic, name, "")
        return
    if checked.sms_from is not None:
        clinic.sms_from, clinic.sms_messaging_service_sid = checked.sms_from, ""
    if checked.sms_messaging_service_sid is not None:
        if checked.sms_from is not None:
            raise ClinicError("sms_from: give a number or a Messaging Service, not both")
        clinic.sms_messaging_service_sid, clinic.sms_from = checked.sms_messaging_service_sid, ""
    account, token = checked.twilio_account_sid, checked.twilio_auth_token
    if (account is None) != (token is None):
        raise ClinicError("twilio_account_sid: give the account SID and its auth token together")
    if account is not None and token is not None:
        clinic.twilio_account_sid, clinic.twilio_auth_token = account, token
    if clinic.twilio_account_sid and not (clinic.sms_from or clinic.sms_messaging_service_sid):
        raise ClinicError(
            "twilio_account_sid: a clinic's own account needs its own sender "
            "(a number or Messaging Service of that account)"
        )


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


def protocol_for(clinic: Clinic) -> Protocol:
    """The protocol this clinic's patients follow, overrides applied."""
    source = f"clinic {clinic.id!r} protocol_overrides"
    return apply_overrides(load_protocol(clinic.protocol), clinic.protocol_overrides, source)
