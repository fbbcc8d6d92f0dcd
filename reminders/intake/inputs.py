"""A patient and a treatment as a clinic describes them: validated into plain inputs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from reminders.intake import fields as f
from reminders.intake.enrollment import PatientInput, TreatmentInput
from reminders.intake.fields import Problems

PATIENT_FIELDS = (
    "external_id", "first_name", "phone", "email", "timezone", "locale", "consent"
)  # fmt: skip
# Left out, these keep what is stored; given as null (or "" / false) they are withdrawn.
WITHDRAWABLE: dict[str, Any] = {
    "phone": None,
    "email": None,
    "consent_sms": False,
    "consent_email": False,
}
# A session cannot have ended later than this from now; a future session is appointment.booked.
FUTURE_TOLERANCE = timedelta(minutes=15)
TREATMENT_FIELDS = (
    "external_id", "ended_at", "area", "needle_depth_mm", "session_number",
    "sessions_planned", "next_session_at",
)  # fmt: skip


def patient_input(data: Any, region: str, problems: Problems, prefix: str) -> PatientInput | None:
    """A whole patient as treatment.completed or a CSV row carries it."""
    if not isinstance(data, dict):
        problems.add(prefix.rstrip("."), "required, a JSON object")
        return None
    values = patient_values(data, region, problems, prefix)
    external_id = f.text(data.get("external_id"), prefix + "external_id", problems, 128, True)
    for required in ("first_name", "timezone"):
        if data.get(required) in (None, ""):
            problems.add(prefix + required, "required")
    if external_id is None or "first_name" not in values or "timezone" not in values:
        return None
    omitted = frozenset(WITHDRAWABLE.keys() - values.keys())
    return PatientInput(external_id=external_id, omitted=omitted, **values)


def patient_values(data: dict[str, Any], region: str, problems: Problems, prefix: str) -> dict:
    """The patient fields present in data, validated (absent fields are left out).

    Contact and consent given as null (or "", or false) are there as None / False: withdrawn.
    """
    f.no_extra_keys(data, PATIENT_FIELDS, prefix, problems)
    consent = data.get("consent", {})
    if not isinstance(consent, dict):
        problems.add(prefix + "consent", 'an object like {"sms": true, "email": false}')
        consent = {}
    f.no_extra_keys(consent, ("sms", "email"), prefix + "consent.", problems)
    checked = {
        "first_name": f.text(data.get("first_name"), prefix + "first_name", problems, 100, False),
        "phone": f.phone(data.get("phone"), prefix + "phone", problems, region),
        "email": f.email(data.get("email"), prefix + "email", problems),
        "timezone": f.timezone(data.get("timezone"), prefix + "timezone", problems, False),
        "locale": f.locale(data.get("locale"), prefix + "locale", problems, "")
        if "locale" in data
        else None,
        "consent_sms": f.flag(consent.get("sms"), prefix + "consent.sms", problems),
        "consent_email": f.flag(consent.get("email"), prefix + "consent.email", problems),
    }
    values: dict[str, Any] = {
        name: value for name, value in checked.items() if value not in (None, "")
    }
    for name, withdrawn in WITHDRAWABLE.items():
        source, key = (consent, name[8:]) if name.startswith("consent_") else (data, name)
        if key in source and source[key] in (None, ""):
            values[name] = withdrawn
    return values


def treatment_input(
    data: Any, problems: Problems, prefix: str, now: datetime
) -> TreatmentInput | None:
    """A treatment session as treatment.completed or a CSV row carries it, ended by `now`."""
    if not isinstance(data, dict):
        problems.add(prefix.rstrip("."), "required, a JSON object")
        return None
    f.no_extra_keys(data, TREATMENT_FIELDS, prefix, problems)
    external_id = f.text(data.get("external_id"), prefix + "external_id", problems, 128, True)
    ended_at = f.moment(data.get("ended_at"), prefix + "ended_at", problems, required=True)
    if ended_at is not None and ended_at > now + FUTURE_TOLERANCE:
        problems.add(
            prefix + "ended_at",
            f"more than {FUTURE_TOLERANCE.seconds // 60} minutes in the future: a session that "
            "has not happened yet is sent as appointment.booked",
        )
        ended_at = None
    area = f.choice(data.get("area"), prefix + "area", problems, f.AREAS, "face")
    depth = f.depth(data.get("needle_depth_mm"), prefix + "needle_depth_mm", problems)
    number = f.whole(
        data.get("session_number"), prefix + "session_number", problems, 1, f.MAX_SESSIONS
    )
    planned = f.whole(
        data.get("sessions_planned"), prefix + "sessions_planned", problems, 1, f.MAX_SESSIONS
    )
    if number and planned and number > planned:
        problems.add(prefix + "session_number", "must not exceed sessions_planned")
    next_at = f.moment(data.get("next_session_at"), prefix + "next_session_at", problems, False)
    if next_at and ended_at and next_at <= ended_at:
        problems.add(prefix + "next_session_at", "must be after ended_at")
    if external_id is None or ended_at is None:
        return None
    return TreatmentInput(
        external_id=external_id,
        ended_at=ended_at,
        area=area,
        needle_depth_mm=depth,
        session_number=number or 1,
        sessions_planned=planned or max(number or 1, 1),
        next_session_at=next_at,
    )
