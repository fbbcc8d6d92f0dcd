"""A text that raises a clinic alert is answered once per episode, never after STOP."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.channels.senders import NO_PLATFORM
from reminders.db import session_scope
from reminders.delivery.rendering import Renderer, sms_size
from reminders.delivery.sms_rules import encoding_problems
from reminders.inbound.acknowledgement import ack_text
from reminders.inbound.alert_outbox import due_alerts
from reminders.inbound.handler import Inbound, InboundResult, handle_inbound
from reminders.models import MESSAGES, PATIENTS, InboundReply
from tests.factories import make_clinic, make_patient_with_treatment, record_sent

NOW = datetime(2030, 5, 2, 10, 0, tzinfo=UTC)
PHONE, OTHER = "+15555550123", "+15555550124"
renderer = Renderer()


def text(
    engine: Engine, body: str, sid: str, now: datetime = NOW, sender: str = PHONE
) -> InboundResult:
    """A patient's text, handled as the inbound webhook handles it."""
    with session_scope(engine) as session:
        return handle_inbound(session, Inbound(sender, body, sid), now)


def answer(result: InboundResult) -> str | None:
    return ack_text(renderer, result.ack) if result.ack else None


def clinic_and_patient(engine: Engine, locale: str = "en") -> None:
    make_clinic(engine, email="alerts@glow.example")
    make_patient_with_treatment(engine, locale=locale)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "Glow Clinic: We have your message and will contact you soon"),
        ("es", "Glow Clinic: Hemos recibido tu mensaje y te contactaremos pronto"),
        ("es-MX", "Glow Clinic: Hemos recibido tu mensaje"),
    ],
)
def test_a_warning_text_gets_one_ack_in_the_patients_language(
    engine: Engine, locale: str, expected: str
) -> None:
    clinic_and_patient(engine, locale)
    result = text(engine, "the redness is spreading and I have a fever", "SM1")
    assert result.alert_id is not None
    sent = answer(result)
    assert sent is not None and sent.startswith(expected)
    assert "(555) 010-0000" in sent and "emergenc" in sent  # national: the patient is in the US


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_ack_is_gsm7_and_fits_one_segment(engine: Engine, locale: str) -> None:
    make_clinic(engine, name="Riverside Dermatology Studio", phone="+1 415 555 0134")
    make_patient_with_treatment(engine, locale=locale)
    sent = answer(text(engine, "pus", "SM1"))
    assert sent is not None and encoding_problems(sent) == []
    assert sms_size(sent).segments == 1


def test_a_second_warning_within_the_episode_gets_no_ack_but_still_alerts_the_clinic(
    engine: Engine,
) -> None:
    clinic_and_patient(engine)
    first = text(engine, "it is swollen and painful", "SM1")
    second = text(engine, "now I have a fever too", "SM2", NOW + timedelta(hours=3))
    assert first.ack is not None and second.ack is None
    assert second.alert_id is not None and second.alert_id != first.alert_id
    assert due_alerts(engine, NOW + timedelta(hours=3)) == [first.alert_id, second.alert_id]


def test_a_warning_after_a_quiet_episode_length_is_acknowledged_again(engine: Engine) -> None:
    clinic_and_patient(engine)
    text(engine, "pus", "SM1")
    joined = text(engine, "still pus", "SM2", NOW + timedelta(hours=11))
    later = text(engine, "fever now", "SM3", NOW + timedelta(hours=23, minutes=1))
    assert joined.ack is None and later.ack is not None


def test_a_redelivered_warning_text_gets_no_second_ack(engine: Engine) -> None:
    clinic_and_patient(engine)
    assert text(engine, "pus", "SMsame").ack is not None
    again = text(engine, "pus", "SMsame", NOW + timedelta(seconds=20))
    assert again == InboundResult()


def test_a_number_that_texted_stop_gets_no_ack_but_the_clinic_is_alerted(engine: Engine) -> None:
    clinic_and_patient(engine)
    text(engine, "STOP", "SM1")
    result = text(engine, "I have pus", "SM2", NOW + timedelta(minutes=5))
    assert result.alert_id is not None and result.ack is None


def test_a_patient_whose_sms_caps_are_used_today_still_gets_the_ack(engine: Engine) -> None:
    make_clinic(engine)
    patient, treatment = make_patient_with_treatment(engine)
    assert patient.id is not None and treatment.id is not None
    with engine.begin() as connection:  # 1 a day, 3 a week: both caps used by these
        connection.execute(
            sa.insert(MESSAGES),
            [sent_sms(patient.id, treatment.id, step, NOW - timedelta(hours=h))
             for step, h in (("day_1", 1), ("day_3", 30), ("day_14", 50))],
        )  # fmt: skip
    result = text(engine, "fever", "SM1")
    assert answer(result) is not None
    assert count_messages(engine) == 3  # the ack is no outbox row: it uses up no cap


def sent_sms(patient_id: int, treatment_id: int, step: str, at: datetime) -> dict[str, object]:
    return dict(
        idempotency_key=f"{treatment_id}:{step}:sms", clinic_id="clinic-a", patient_id=patient_id,
        treatment_id=treatment_id, step_key=step, channel="sms", status="sent", due_at=at,
        sent_at=at, attempts=1, protocol_version="test", created_at=at, updated_at=at,
    )  # fmt: skip


def count_messages(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(MESSAGES)).scalar_one()


def test_a_text_from_an_unknown_number_gets_no_ack(engine: Engine) -> None:
    clinic_and_patient(engine)
    result = text(engine, "I have pus", "SM1", sender="+15555550999")
    assert result == InboundResult()


def test_a_plain_reply_gets_no_ack(engine: Engine) -> None:
    clinic_and_patient(engine)
    assert text(engine, "thanks!", "SM1") == InboundResult()


def test_the_ack_names_the_clinic_the_alert_went_to(engine: Engine) -> None:
    make_clinic(engine, "clinic-a", name="Glow Clinic", phone="+1 555 010 0000")
    make_clinic(engine, "clinic-b", name="Bright Skin", phone="+1 555 020 0000")
    make_patient_with_treatment(engine, "clinic-a")
    patient, treatment = make_patient_with_treatment(engine, "clinic-b")
    # Both share the platform's sender: the text answers clinic B's, the last one sent.
    record_sent(engine, patient, treatment, NO_PLATFORM.key, NOW - timedelta(days=1))
    result = text(engine, "pus", "SM1")
    sent = answer(result)
    assert sent is not None and sent.startswith("Bright Skin:") and "(555) 020-0000" in sent
    assert "Glow" not in sent and "010" not in sent
    with Session(engine) as session:
        reply = session.get(InboundReply, result.alert_id)
        assert reply is not None and reply.clinic_id == "clinic-b"


def test_episodes_are_per_patient(engine: Engine) -> None:
    make_clinic(engine)
    make_patient_with_treatment(engine, external_id="p-1")
    other_patient, _ = make_patient_with_treatment(engine, external_id="p-2")
    with engine.begin() as connection:
        connection.execute(
            sa.update(PATIENTS).where(PATIENTS.c.id == other_patient.id).values(phone=OTHER)
        )
    text(engine, "pus", "SM1")
    other = text(engine, "pus", "SM2", NOW + timedelta(hours=1), sender=OTHER)
    assert other.ack is not None


def test_two_warning_texts_handled_at_once_get_one_ack(engine: Engine) -> None:
    clinic_and_patient(engine)
    results: list[InboundResult] = []
    with session_scope(engine) as session:
        results.append(handle_inbound(session, Inbound(PHONE, "pus", "SM1"), NOW))
        # The second text arrives while the first is not committed yet: it must wait and see it.
        racer = threading.Thread(target=lambda: results.append(text(engine, "fever", "SM2")))
        racer.start()
        racer.join(timeout=0.5)
    racer.join(timeout=30)
    assert [r.ack is not None for r in results] == [True, False]
