"""The real Twilio channel sends through the fake Twilio, whose signed callbacks reach our API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from reminders.channels.base import Outgoing
from reminders.channels.twilio import TwilioChannel, TwilioConfig
from reminders.config import load_settings
from reminders.models import Message
from tests.factories import insert_due_messages, make_clinic, make_patient_with_treatment
from tests.fakes.twilio_server import FROM, FakeTwilio
from tests.harness import BIN, ServiceProcess, service_env
from tests.processes import free_port, wait_ready


def rows(engine: Engine) -> dict[int, Message]:
    with Session(engine) as session:
        return {row.id: row for row in session.exec(select(Message)) if row.id is not None}


def test_callbacks_from_twilio_move_sent_messages_forwards_and_resolve_unknown_ones(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    make_clinic(engine)
    patient, treatment = make_patient_with_treatment(engine)
    assert patient.id is not None and treatment.id is not None
    insert_due_messages(engine, 2, "clinic-a", patient.id, treatment.id, datetime.now(UTC))
    port = free_port()
    with FakeTwilio() as fake:
        public = f"http://127.0.0.1:{port}"
        env = service_env(
            database_url, redis_url, key_prefix, tmp_path, REMINDERS_PUBLIC_URL=public, **fake.env()
        )
        api = ServiceProcess(
            [str(BIN / "reminders"), "api", "--port", str(port)], env, tmp_path / "api.log"
        )
        try:
            api.start()
            wait_ready(f"{public}/healthz", api.process)
            settings = load_settings(
                public_url=public,
                twilio_api_base=fake.base_url,
                twilio_account_sid=fake.account_sid,
                twilio_auth_token=fake.auth_token,
                twilio_from=FROM,
            )
            channel = TwilioChannel(TwilioConfig.from_settings(settings))
            first, second = sorted(rows(engine))
            with Session(engine) as session:
                for row in session.exec(select(Message)):
                    row.status = "sending" if row.id == first else "unknown"
                    session.add(row)
                session.commit()
            sids = {
                message_id: channel.send(
                    Outgoing(message_id=message_id, idempotency_key=f"k{message_id}", channel="sms",
                             to="+15555550123", text="Glow Clinic: skip makeup tonight.")
                )
                for message_id in (first, second)
            }  # fmt: skip
            assert fake.post_status(sids[first], "sent") == 200
            assert fake.post_status(sids[first], "delivered") == 200
            assert fake.post_status(sids[first], "sent") == 200  # late, out of order
            assert fake.post_status(sids[second], "undelivered", error_code=30005) == 200
        finally:
            api.stop()
    stored = rows(engine)
    assert stored[first].status == "delivered" and stored[first].provider_id == sids[first]
    assert (stored[second].status, stored[second].provider_code) == ("failed", "30005")
    assert stored[second].provider_id == sids[second]
