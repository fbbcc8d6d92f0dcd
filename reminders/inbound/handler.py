"""Act on a patient's text: STOP, START, HELP, or store it and alert the clinic to warning signs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from reminders.channels.senders import NO_PLATFORM, Sender
from reminders.consent.gate import ConsentGate
from reminders.consent.optout import on_sender, opt_in, opt_out, patients_with_phone
from reminders.db import session_scope
from reminders.events.emission import emit_reply
from reminders.inbound.acknowledgement import Acknowledgement, acknowledge
from reminders.inbound.conversation import answered_patient
from reminders.inbound.help_answer import HelpRequest, help_request
from reminders.inbound.replies import HELP, OPT_IN, OPT_OUT, REPLY, WARNING, classify
from reminders.masking import mask_address
from reminders.models import Clinic, InboundReply, Patient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inbound:
    """One incoming SMS as Twilio describes it."""

    from_number: str
    body: str
    provider_id: str | None
    # Our number it was sent to, and its Messaging Service if it is in one ('' = not given).
    to: str = ""
    service: str = ""


@dataclass(frozen=True)
class InboundResult:
    """What to answer (the ack or HELP, rendered by the caller) and the alert now due, if any."""

    alert_id: int | None = None
    ack: Acknowledgement | None = None
    help: HelpRequest | None = None


def receive(
    engine: Engine, gate: ConsentGate, text: Inbound, now: datetime, platform: Sender = NO_PLATFORM
) -> InboundResult:
    """Apply the text in one transaction; a STOP commits only after sends already under way."""
    stopping = [text.from_number] if classify(text.body).kind == OPT_OUT else []
    with gate.changing(stopping), session_scope(engine) as session:
        return handle_inbound(session, text, now, platform)


def handle_inbound(
    session: Session, text: Inbound, now: datetime, platform: Sender = NO_PLATFORM
) -> InboundResult:
    """Apply the text in the caller's transaction; the alert is emailed after it commits."""
    result = classify(text.body)
    key = sender_key(session, text, platform)
    patients = patients_with_phone(session, text.from_number)
    sharing = on_sender(session, patients, key, platform)
    patient = answered_patient(session, patients, sharing, key)
    log.info("inbound %s from %s", result.kind, mask_address(text.from_number))
    reply = store(session, text, result.kind, patient, now, key)
    if reply is None:
        return InboundResult()  # Twilio redelivered a text we already handled.
    if result.kind in (REPLY, WARNING) and patient is not None:
        assert reply.id is not None
        emit_reply(session, patient, reply.id, reply.body, result.signs, now)
    # Twilio applies STOP and START to the pair (our sender, their number): so do we.
    if result.kind == OPT_OUT:
        opt_out(session, sharing, now)
    elif result.kind == OPT_IN:
        opt_in(session, sharing, now)
    if result.kind == HELP:
        clinic = session.get(Clinic, patient.clinic_id) if patient else None
        # AYUDA asks in Spanish; otherwise the patient's language (es-MX -> es), as every text.
        asked = "es" if text.body.strip().upper().startswith("AYUDA") else None
        locale = asked or (patient.locale if patient else "en")
        return InboundResult(help=help_request(clinic, locale, text.from_number))
    if result.kind == WARNING and patient is not None:
        # Recorded as due in this transaction, sent after it: a failed or lost send is retried
        # by beat, and a failed commit sends nothing.
        reply.alert_due_at = now
        session.add(reply)
        session.flush()
        return InboundResult(alert_id=reply.id, ack=acknowledge(session, reply, sharing, now))
    return InboundResult()


def sender_key(session: Session, text: Inbound, platform: Sender) -> str:
    """The key of our sender the text reached: its Messaging Service if we send through that
    service, else our number ('' = the platform's sender, for a form naming neither)."""
    # A number may sit in a service (US A2P campaigns) while texts go out from the number.
    if text.service and (
        text.service == platform.messaging_service_sid
        or session.exec(
            select(Clinic.id).where(Clinic.sms_messaging_service_sid == text.service)
        ).first()
    ):
        return text.service
    return text.to or platform.key


def store(
    session: Session, text: Inbound, kind: str, patient: Patient | None, now: datetime, key: str
) -> InboundReply | None:
    """Keep the text for operators; None when this provider id was stored before."""
    if text.provider_id:
        seen = session.exec(
            select(InboundReply.id).where(col(InboundReply.provider_id) == text.provider_id)
        ).first()
        if seen is not None:
            return None
    reply = InboundReply(
        clinic_id=patient.clinic_id if patient else None,
        patient_id=patient.id if patient else None,
        from_number=text.from_number[:32],
        body=text.body.replace("\x00", "")[:1600],  # PostgreSQL cannot store NUL
        kind=kind,
        provider_id=text.provider_id or None,
        received_at=now,
        sender=key[:64],
    )
    try:
        with session.begin_nested():
            session.add(reply)
    except IntegrityError:
        return None
    return reply
