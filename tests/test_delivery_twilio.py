"""Delivery through the real Twilio channel and client, against the fake Twilio server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from reminders.consent.gate import gate_for
from reminders.consent.optout import opt_out_patient
from reminders.delivery.deliverer import Deliverer
from reminders.models import CLINICS, MESSAGES, PATIENTS
from reminders.outbox.claim import claim_due, release_claims
from reminders.outbox.recovery import LookupFinder, reconcile_unknown
from tests.fakes.twilio_channel import channel_for
from tests.fakes.twilio_server import FakeTwilio
from tests.outbox_helpers import deliverer, due_rows, row


def test_an_unsubscribed_number_at_twilio_opts_the_patient_out_of_every_sms(
    engine: Engine, fake_twilio: FakeTwilio
) -> None:
    first, *later = due_rows(engine, count=3)
    release_claims(engine, later, datetime.now(UTC))
    fake_twilio.fail(400, 21610)
    channel = channel_for(fake_twilio)
    gate = gate_for(engine)
    sender = deliverer(
        engine,
        channel,
        gate=gate,
        on_unsubscribed=lambda pid: opt_out_patient(engine, gate, pid, datetime.now(UTC)),
    )
    sender.deliver([first], "w1")
    assert row(engine, first).status == "failed" and row(engine, first).provider_code == "21610"
    with engine.connect() as connection:
        opted_out = connection.execute(select(PATIENTS.c.sms_opted_out_at)).scalar_one()
    assert opted_out is not None
    fake_twilio.clear_faults()
    retried = claim_due(engine, datetime.now(UTC), 10, "d", timedelta(minutes=1))
    sender.deliver(retried, "w1")
    assert fake_twilio.sends_to("+15555550123") == 0
    assert {row(engine, i).status for i in later} <= {"skipped", "cancelled"}


def timed_out_send(engine: Engine, fake_twilio: FakeTwilio) -> tuple[int, Deliverer]:
    """One SMS that reached Twilio but whose answer came after the client's timeout."""
    [message_id] = due_rows(engine)
    fake_twilio.hold(7.0)  # arrives at Twilio, answers after the client's 5 s timeout
    sender = deliverer(engine, channel_for(fake_twilio))
    sender.deliver([message_id], "w1")
    return message_id, sender


def reconcile_later(engine: Engine, sender: Deliverer) -> dict[str, int]:
    """One reconciliation pass two minutes on, asking Twilio through the sender's channel."""
    return reconcile_unknown(
        engine,
        {"sms": LookupFinder(sender.channels["sms"])},
        datetime.now(UTC) + timedelta(minutes=2),
        grace=timedelta(seconds=60),
        lease=timedelta(minutes=2),
        texts=sender.possible_texts,
    )


def test_a_timed_out_send_is_reconciled_from_twilio_without_a_second_send(
    engine: Engine, fake_twilio: FakeTwilio
) -> None:
    message_id, sender = timed_out_send(engine, fake_twilio)
    assert row(engine, message_id).status == "unknown"
    counts = reconcile_later(engine, sender)
    stored = row(engine, message_id)
    assert counts["found"] == 1 and stored.status == "sent"
    assert stored.provider_id and stored.provider_id.startswith("SM")
    assert fake_twilio.sends_for(message_id) == 1
    with engine.connect() as connection:
        assert connection.execute(select(MESSAGES.c.status)).scalars().all() == ["sent"]


def test_two_unknown_sms_in_one_window_are_each_matched_by_their_own_text(
    engine: Engine, fake_twilio: FakeTwilio
) -> None:
    first, second = due_rows(engine, count=2)
    release_claims(engine, [first], datetime.now(UTC))
    with engine.begin() as connection:  # a different prompt, so a different text
        connection.execute(update(MESSAGES).where(MESSAGES.c.id == first).values(step_key="day_3"))
    channel = channel_for(fake_twilio)
    sender = deliverer(engine, channel)
    sender.deliver([second], "w1")  # Twilio has the second; the first never reached it
    then = datetime.now(UTC) - timedelta(minutes=5)
    with engine.begin() as connection:
        for message_id, age in ((first, timedelta(seconds=1)), (second, timedelta(0))):
            connection.execute(
                update(MESSAGES)
                .where(MESSAGES.c.id == message_id)
                .values(
                    status="unknown",
                    provider_id=None,
                    sent_at=None,
                    updated_at=then - age,  # the first is asked about first
                    lease_expires_at=then,
                )
            )
    finders = {"sms": LookupFinder(channel)}
    for _pass in range(2):
        reconcile_unknown(
            engine,
            finders,
            datetime.now(UTC),
            grace=timedelta(seconds=60),
            lease=timedelta(minutes=2),
            texts=sender.possible_texts,
        )
    [at_twilio] = fake_twilio.messages()
    assert row(engine, second).status == "sent"
    assert row(engine, second).provider_id == at_twilio["sid"]
    # The first is not credited with the second's message: it goes back to be sent.
    assert row(engine, first).status == "pending"
    assert "never received" in row(engine, first).reason


def test_a_timed_out_send_is_credited_by_its_stored_digest_after_the_clinic_is_renamed(
    engine: Engine, fake_twilio: FakeTwilio
) -> None:
    message_id, sender = timed_out_send(engine, fake_twilio)
    with engine.begin() as connection:  # every text of this clinic now reads differently
        connection.execute(update(CLINICS).values(name="Renamed Clinic"))
    [at_twilio] = fake_twilio.messages()
    assert at_twilio["body"] not in sender.possible_texts(message_id)
    counts = reconcile_later(engine, sender)
    assert counts["found"] == 1
    assert (row(engine, message_id).status, row(engine, message_id).provider_id) == (
        "sent",
        at_twilio["sid"],
    )
    assert fake_twilio.sends_for(message_id) == 1
