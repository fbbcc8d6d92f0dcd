"""Through the API: a clinic's system receives, verified, what its patients' texts and links did."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from reminders.consent.gate import gate_for
from reminders.consent.optout import opt_out_patient
from reminders.consent.unsubscribe import token_for
from reminders.events.delivery import deliver_due_events
from reminders.events.posting import Poster, wall_clock
from reminders.models import MESSAGES, Message
from tests.events_helpers import give_endpoint, kinds
from tests.fakes.event_receiver import EventReceiver
from tests.webhooks.conftest import CLINIC, LINK_SECRET, Hooks, treatment_completed

PHONE = "+34612345678"


def enroll(hooks: Hooks) -> int:
    assert hooks.post_event("treatment.completed", treatment_completed()).status_code == 202
    patient = hooks.patient()
    assert patient.id is not None
    return patient.id


def post_all(hooks: Hooks, receiver: EventReceiver) -> dict[str, int]:
    poster = Poster(timeout_seconds=2, allow_local_http=True)
    try:
        # The API queued the rows on the wall clock.
        return deliver_due_events(hooks.engine, poster, wall_clock, rng=random.Random(1))
    finally:
        poster.close()


def test_texts_reports_and_links_reach_the_clinics_system_signed(hooks: Hooks) -> None:
    patient_id = enroll(hooks)
    with EventReceiver() as receiver:
        receiver.secret = give_endpoint(hooks.engine, CLINIC, receiver.url)
        form = {"From": PHONE, "Body": "I have a fever and pus", "MessageSid": "SMin1"}
        assert hooks.post_twilio("/v1/twilio/inbound", form).status_code == 200
        with Session(hooks.engine) as session:
            sms = session.exec(
                select(Message).where(col(Message.channel) == "sms").order_by(col(Message.id))
            ).first()
            assert sms is not None and sms.id is not None
        with hooks.engine.begin() as connection:
            connection.execute(
                sa.update(MESSAGES).where(MESSAGES.c.id == sms.id).values(status="sent")
            )
        status = {"MessageSid": "SMout1", "MessageStatus": "delivered"}
        reported = hooks.post_twilio(f"/v1/twilio/status?message_id={sms.id}", status)
        assert reported.status_code == 200
        url = f"/v1/unsubscribe/{token_for(patient_id, LINK_SECRET.encode())}"
        assert hooks.client.post(url).status_code == 200
        opt_out_patient(hooks.engine, gate_for(hooks.engine), patient_id, datetime.now(UTC))
        assert kinds(hooks.engine) == [
            "patient.replied",
            "warning_sign.raised",
            "message.delivered",
            "patient.opted_out",
            "patient.opted_out",
        ]
        assert post_all(hooks, receiver) == {"delivered": 5}
    assert all(r.verified for r in receiver.received)
    bodies = receiver.payloads()
    assert [b["type"] for b in bodies] == kinds(hooks.engine)
    assert bodies[1]["data"]["warning_signs"] == ["pus", "fever"]
    assert bodies[2]["data"]["message"]["id"] == sms.id
    assert [(b["data"]["channel"], b["data"]["source"]) for b in bodies[3:]] == [
        ("email", "unsubscribe_link"), ("sms", "carrier")
    ]  # fmt: skip
    assert {b["data"]["patient"]["external_id"] for b in bodies} == {"p-1"}
    assert PHONE not in str(bodies) and "ana@example.com" not in str(bodies)
