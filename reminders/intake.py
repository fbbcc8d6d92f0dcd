"""A patient and a treatment as a clinic describes them: validated into plain inputs."""

from __future__ import annotations

from typing import Any

from reminders import fields as f
from reminders.enrollment import PatientInput, TreatmentInput
from reminders.fields import Problems

PATIENT_FIELDS = (
    "external_id", "first_name", "phone", "email", "timezone", "locale", "consent"
)  # fmt: skip
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
    return PatientInput(external_id=external_id, **values)


def patient_values(data: dict[str, Any], region: str, problems: Problems, prefix: str) -> dict:
    """The patient fields present in data, validated (absent fields are left out)."""
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
    return {name: value for name, value in checked.items() if value not in (None, "")}


def treatment_input(data: Any, problems: Problems, prefix: str) -> TreatmentInput | None:
    """A treatment session as treatment.completed or a CSV row carries it."""
    if not isinstance(data, dict):
        problems.add(prefix.rstrip("."), "required, a JSON object")
        return None
    f.no_extra_keys(data, TREATMENT_FIELDS, prefix, problems)
    external_id = f.text(data.get("external_id"), prefix + "external_id", problems, 128, True)
    ended_at = f.moment(data.get("ended_at"), prefix + "ended_at", problems, required=True)
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
