"""Warning-sign alerts reach the clinic at least once: retried, never lost, never sent twice."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.channels.base import SendError
from reminders.db import session_scope
from reminders.delivery.rendering import Renderer
from reminders.inbound import alert_outbox as ao
from reminders.inbound.handler import Inbound, handle_inbound
from reminders.models import InboundReply
from reminders.ops.overview import unsent_alerts
from reminders.outbox.lifecycle import PERMANENT, TRANSIENT
from tests.factories import make_clinic, make_patient_with_treatment
from tests.fakes.channels import ScriptedChannel

NOW = datetime(2030, 5, 2, 10, 0, tzinfo=UTC)
POLICY = ao.AlertPolicy(lease=timedelta(minutes=2), max_attempts=3, base_seconds=30)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def warning_reply(engine: Engine, body: str = "I have a fever and pus") -> int:
    """A patient's reply with warning signs, stored as the inbound webhook stores it."""
    make_clinic(engine, email="alerts@glow.example")
    make_patient_with_treatment(engine)
    with session_scope(engine) as session:
        result = handle_inbound(session, Inbound("+15555550123", body, "SMwarn"), NOW)
    assert result.alert_id is not None
    return result.alert_id


def reply(engine: Engine, reply_id: int) -> InboundReply:
    with Session(engine) as session:
        found = session.get(InboundReply, reply_id)
        assert found is not None
        return found


def deliver(engine: Engine, channel: ScriptedChannel, reply_id: int, clock: Clock) -> str:
    return ao.deliver_alert(
        engine, channel, reply_id, clock, POLICY, random.Random(1), renderer=Renderer()
    )


def test_storing_a_warning_makes_its_alert_due_without_sending_it(engine: Engine) -> None:
    reply_id = warning_reply(engine)
    stored = reply(engine, reply_id)
    assert stored.alert_due_at == NOW and stored.alerted_at is None
    assert ao.due_alerts(engine, NOW) == [reply_id]


def test_a_delivered_alert_is_recorded_and_no_longer_due(engine: Engine) -> None:
    reply_id, email = warning_reply(engine), ScriptedChannel("email")
    assert deliver(engine, email, reply_id, Clock()) == ao.SENT
    [mail] = email.sent
    assert mail.to == "alerts@glow.example" and "fever" in mail.subject
    stored = reply(engine, reply_id)
    assert stored.alerted_at == NOW and stored.alert_due_at is None
    assert ao.due_alerts(engine, NOW + timedelta(days=1)) == []


def test_a_transient_failure_is_retried_later_and_then_sent_once(engine: Engine) -> None:
    reply_id, clock = warning_reply(engine), Clock()
    email = ScriptedChannel("email", [SendError(TRANSIENT, "451 try later")])
    assert deliver(engine, email, reply_id, clock) == ao.RETRY
    failed = reply(engine, reply_id)
    assert failed.alerted_at is None and failed.alert_due_at is not None
    assert failed.alert_due_at > NOW and "451 try later" in (failed.alert_error or "")
    assert ao.due_alerts(engine, NOW) == []
    clock.now = failed.alert_due_at
    assert ao.deliver_due_alerts(engine, email, clock, POLICY, renderer=Renderer()) == {ao.SENT: 1}
    assert len(email.sent) == 1 and reply(engine, reply_id).alerted_at == clock.now


def test_a_second_sender_cannot_take_an_alert_while_the_first_holds_it(engine: Engine) -> None:
    reply_id = warning_reply(engine)
    assert ao.claim(engine, reply_id, NOW, POLICY.lease) == 1
    assert ao.claim(engine, reply_id, NOW, POLICY.lease) is None
    email = ScriptedChannel("email")
    assert deliver(engine, email, reply_id, Clock()) == ao.TAKEN
    assert email.sent == []


def test_an_alert_abandoned_mid_send_is_sent_again_when_its_lease_ends(engine: Engine) -> None:
    reply_id = warning_reply(engine)
    assert ao.claim(engine, reply_id, NOW, POLICY.lease) == 1  # then the process dies
    assert ao.due_alerts(engine, NOW + timedelta(minutes=1)) == []
    later = Clock(NOW + POLICY.lease + timedelta(seconds=1))
    assert ao.due_alerts(engine, later.now) == [reply_id]
    email = ScriptedChannel("email")
    assert ao.deliver_due_alerts(engine, email, later, POLICY, renderer=Renderer()) == {ao.SENT: 1}
    assert reply(engine, reply_id).alert_attempts == 2


def test_a_permanent_refusal_gives_up_and_operators_are_told(engine: Engine) -> None:
    reply_id = warning_reply(engine)
    email = ScriptedChannel("email", [SendError(PERMANENT, "550 no such mailbox")])
    assert deliver(engine, email, reply_id, Clock()) == ao.GAVE_UP
    stored = reply(engine, reply_id)
    assert stored.alert_due_at is None and "550" in (stored.alert_error or "")
    with Session(engine) as session:
        assert unsent_alerts(session, NOW + timedelta(minutes=6)) == 1


def test_alerts_that_keep_failing_stop_after_the_maximum_attempts(engine: Engine) -> None:
    reply_id, clock = warning_reply(engine), Clock()
    email = ScriptedChannel("email", [SendError(TRANSIENT, "timeout")] * POLICY.max_attempts)
    outcomes = []
    for _ in range(POLICY.max_attempts):
        outcomes.append(deliver(engine, email, reply_id, clock))
        clock.now += timedelta(hours=2)
    assert outcomes == [ao.RETRY] * (POLICY.max_attempts - 1) + [ao.GAVE_UP]
    assert ao.due_alerts(engine, clock.now + timedelta(days=1)) == []
    assert email.sent == []


def test_a_clinic_without_an_alert_email_keeps_the_alert_due_for_a_retry(engine: Engine) -> None:
    make_clinic(engine, email="")
    make_patient_with_treatment(engine)
    with session_scope(engine) as session:
        result = handle_inbound(session, Inbound("+15555550123", "swelling", "SMs"), NOW)
    assert result.alert_id is not None
    email = ScriptedChannel("email")
    assert deliver(engine, email, result.alert_id, Clock()) == ao.RETRY
    assert "no email address" in (reply(engine, result.alert_id).alert_error or "")


def test_a_sent_alert_does_not_count_as_unsent(engine: Engine) -> None:
    reply_id = warning_reply(engine)
    deliver(engine, ScriptedChannel("email"), reply_id, Clock())
    with Session(engine) as session:
        assert unsent_alerts(session, NOW + timedelta(hours=1)) == 0
