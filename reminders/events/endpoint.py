"""A clinic's events endpoint: set it (a new secret, shown once), rotate the secret, remove it."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from reminders.intake.clinics import ClinicError, new_secret
from reminders.intake.fields import endpoint_problem
from reminders.models import Clinic
from reminders.ops import audit


def set_endpoint(
    session: Session,
    clinic: Clinic,
    url: str,
    actor: str,
    now: datetime,
    *,
    allow_local_http: bool = False,
    rotate: bool = False,
) -> str | None:
    """Point the clinic's events at `url`; the new secret when one is issued (first, or rotate)."""
    problem = endpoint_problem(url, allow_local_http)
    if problem is not None:
        raise ClinicError(f"events url: {problem}")
    secret = new_secret() if rotate or not clinic.events_secret else None
    change(session, clinic, url.strip(), secret or clinic.events_secret, actor, now)
    return secret


def rotate_secret(session: Session, clinic: Clinic, actor: str, now: datetime) -> str:
    """A new signing secret for the clinic's endpoint, used from the next post on."""
    if not clinic.events_url:
        raise ClinicError(f"events: clinic {clinic.id!r} has no endpoint; set one with --url")
    secret = new_secret()
    change(session, clinic, clinic.events_url, secret, actor, now)
    return secret


def remove_endpoint(session: Session, clinic: Clinic, actor: str, now: datetime) -> None:
    """No more events: pending ones fail and go dead (an operator may retry after a new --url)."""
    change(session, clinic, "", "", actor, now)


def change(
    session: Session, clinic: Clinic, url: str, secret: str, actor: str, now: datetime
) -> None:
    """Store and audit the endpoint (the audit trail masks the secret)."""
    before = {"events_url": clinic.events_url, "events_secret": clinic.events_secret}
    after = {"events_url": url, "events_secret": secret}
    old, new = audit.changed_only(before, after)
    if not new:
        return
    clinic.events_url, clinic.events_secret = url, secret
    session.add(clinic)
    audit.record(session, actor, "events endpoint", clinic_id=clinic.id,
                 target=f"clinic:{clinic.id}", before=old, after=new, now=now)  # fmt: skip
    session.flush()
