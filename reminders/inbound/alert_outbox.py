"""Warning-sign alerts to clinics, delivered at least once: claimed, sent, retried, or given up.

A reply that mentions a warning sign gets `alert_due_at` in the transaction that stores it. The
API tries the email right after that commit; a beat task retries what failed or was abandoned.
A claim (a lease on the row) keeps two senders from mailing the clinic at the same moment; a
process that dies mid-send leaves a lease that expires, so the alert is sent again rather than
lost: for a patient reporting pus or fever, twice beats never.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from jinja2 import TemplateError
from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from reminders.channels.base import Channel, SendError
from reminders.config import Settings
from reminders.delivery.rendering import Renderer
from reminders.inbound.alerts import alert_email
from reminders.inbound.replies import WARNING, warning_signs
from reminders.models import PATIENTS, REPLIES, Clinic, InboundReply, Patient
from reminders.ops import audit
from reminders.ops.scope import ClinicIds, within
from reminders.outbox.lifecycle import PERMANENT, backoff

log = logging.getLogger(__name__)

SENT, RETRY, GAVE_UP, TAKEN = "sent", "retry", "gave up", "taken"


@dataclass(frozen=True)
class AlertPolicy:
    """How long a claim lasts and how failed alerts are retried."""

    lease: timedelta = timedelta(minutes=2)
    max_attempts: int = 6
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertPolicy:
        """The same lease and retry settings as the reminders themselves."""
        return cls(
            lease=timedelta(seconds=settings.lease_seconds),
            max_attempts=settings.max_attempts,
            base_seconds=settings.retry_base_seconds,
            cap_seconds=settings.retry_cap_seconds,
        )


# A warning-sign reply about a known patient whose clinic has not been emailed yet.
UNSENT = and_(
    REPLIES.c.kind == WARNING, REPLIES.c.patient_id.is_not(None), REPLIES.c.alerted_at.is_(None)
)


def due_alerts(engine: Engine, now: datetime, limit: int = 100) -> list[int]:
    """Replies whose alert is due and not claimed by a live sender, oldest first."""
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(REPLIES.c.id)
                .where(REPLIES.c.alert_due_at <= now, unclaimed(now))
                .order_by(REPLIES.c.alert_due_at)
                .limit(limit)
            ).scalars()
        )


def unclaimed(now: datetime) -> ColumnElement[bool]:
    """No sender holds the row, or its lease ran out."""
    return or_(REPLIES.c.alert_lease_until.is_(None), REPLIES.c.alert_lease_until < now)


def claim(engine: Engine, reply_id: int, now: datetime, lease: timedelta) -> int | None:
    """Take the alert for one send; its attempt number, or None if it is not ours to send."""
    with engine.begin() as connection:
        # One conditional UPDATE: of two senders racing, the second finds the lease taken.
        return connection.execute(
            update(REPLIES)
            .where(REPLIES.c.id == reply_id, REPLIES.c.alert_due_at <= now, unclaimed(now))
            .values(alert_lease_until=now + lease, alert_attempts=REPLIES.c.alert_attempts + 1)
            .returning(REPLIES.c.alert_attempts)
        ).scalar_one_or_none()


def deliver_alert(
    engine: Engine,
    channel: Channel | None,
    reply_id: int,
    clock: Callable[[], datetime],
    policy: AlertPolicy = AlertPolicy(),
    rng: random.Random | None = None,
    *,
    renderer: Renderer,
) -> str:
    """Claim, send and record one alert; returns sent, retry, gave up or taken."""
    attempt = claim(engine, reply_id, clock(), policy.lease)
    if attempt is None:
        return TAKEN
    problem, permanent = send(engine, channel, reply_id, renderer)
    now = clock()
    if problem is None:
        values: dict[str, object] = {"alerted_at": now, "alert_due_at": None, "alert_error": None}
        outcome = SENT
    elif permanent or attempt >= policy.max_attempts:
        values = {"alert_due_at": None, "alert_error": problem[:300]}
        outcome = GAVE_UP
        log.error(
            "warning-sign alert %s given up after %s attempts: %s", reply_id, attempt, problem
        )
    else:
        delay = backoff(attempt, policy.base_seconds, policy.cap_seconds, rng or random.Random())
        values = {"alert_due_at": now + delay, "alert_error": problem[:300]}
        outcome = RETRY
        log.warning("warning-sign alert %s failed, will retry: %s", reply_id, problem)
    with engine.begin() as connection:
        connection.execute(
            update(REPLIES).where(REPLIES.c.id == reply_id).values(alert_lease_until=None, **values)
        )
    return outcome


def send(
    engine: Engine, channel: Channel | None, reply_id: int, renderer: Renderer
) -> tuple[str | None, bool]:
    """Email the clinic; (None, _) when sent, else (what went wrong, whether retrying is futile)."""
    with Session(engine) as session:
        reply = session.get(InboundReply, reply_id)
        patient = session.get(Patient, reply.patient_id) if reply and reply.patient_id else None
        clinic = session.get(Clinic, patient.clinic_id) if patient else None
        if reply is None or patient is None or clinic is None:
            return "the reply, its patient or their clinic is gone", True
        try:
            outgoing = alert_email(renderer, clinic, patient, reply, warning_signs(reply.body))
        except TemplateError as exc:  # retried: the templates directory can be fixed meanwhile
            return f"the alert template does not render: {type(exc).__name__}: {exc}", False
    if not outgoing.to:
        return "the clinic has no email address for alerts", False
    if channel is None:
        return "no email channel is configured", False
    try:
        channel.send(outgoing)
    except SendError as exc:
        return f"{exc.kind} email error: {exc}", exc.kind == PERMANENT
    return None, False


def deliver_due_alerts(
    engine: Engine,
    channel: Channel | None,
    clock: Callable[[], datetime],
    policy: AlertPolicy = AlertPolicy(),
    *,
    renderer: Renderer,
) -> dict[str, int]:
    """Send every due alert (what beat runs); counts per outcome."""
    counts: dict[str, int] = {}
    for reply_id in due_alerts(engine, clock()):
        outcome = deliver_alert(engine, channel, reply_id, clock, policy, renderer=renderer)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@dataclass(frozen=True)
class UnsentAlert:
    """A warning-sign alert not emailed yet: retrying (`due_at` set) or given up."""

    reply_id: int
    clinic_id: str | None
    patient_external_id: str
    received_at: datetime
    attempts: int
    due_at: datetime | None
    error: str | None


def unsent_alerts(engine: Engine, clinic_ids: ClinicIds = None) -> list[UnsentAlert]:
    """Every warning-sign alert of those clinics not yet emailed, oldest first (for operators)."""
    stmt = (
        select(
            REPLIES.c.id,
            REPLIES.c.clinic_id,
            PATIENTS.c.external_id,
            REPLIES.c.received_at,
            REPLIES.c.alert_attempts,
            REPLIES.c.alert_due_at,
            REPLIES.c.alert_error,
        )
        .join(PATIENTS, PATIENTS.c.id == REPLIES.c.patient_id)
        .where(UNSENT, within(REPLIES.c.clinic_id, clinic_ids))
        .order_by(REPLIES.c.received_at)
    )
    with engine.connect() as connection:
        return [UnsentAlert(*row) for row in connection.execute(stmt)]


def requeue(session: Session, reply_id: int, actor: str, now: datetime) -> bool:
    """Make an unsent alert due now with fresh attempts (after fixing its cause); audited."""
    changed = session.execute(
        update(REPLIES)
        .where(REPLIES.c.id == reply_id, UNSENT, unclaimed(now))
        .values(alert_due_at=now, alert_attempts=0, alert_lease_until=None)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return False
    detail = f"warning-sign alert of reply {reply_id} queued again"
    clinic = session.execute(select(REPLIES.c.clinic_id).where(REPLIES.c.id == reply_id))
    audit.record(
        session,
        actor,
        "retry alert",
        clinic_id=clinic.scalar_one(),
        target=f"reply:{reply_id}",
        detail=detail,
        now=now,
    )
    return True
