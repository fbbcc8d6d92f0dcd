"""A warning-sign reply reaches the clinic's inbox through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from reminders.api.app import create_app
from reminders.cli.webhook_sender import event_body, signed_headers
from reminders.config import load_settings
from reminders.db import session_scope
from reminders.delivery.rendering import Renderer
from reminders.inbound.alert_outbox import deliver_due_alerts
from reminders.intake.clinics import create_clinic
from reminders.models import InboundReply
from tests.fakes.smtp_server import SmtpServer
from tests.webhooks.conftest import PUBLIC_URL, TWILIO_TOKEN, SetClock, treatment_completed

ALERTS = "alerts@glow.example"


def app_mailing_through(smtp: SmtpServer, database_url: str, redis_url: str) -> Any:
    """The API with its email channel on the test SMTP server."""
    settings = load_settings(
        database_url=database_url,
        redis_url=redis_url,
        twilio_auth_token=TWILIO_TOKEN,
        public_url=PUBLIC_URL,
        smtp_url=f"smtp://127.0.0.1:{smtp.port}",
        smtp_from="Aftercare <aftercare@reminders.example>",
    )
    return create_app(settings, clock=SetClock())


def enroll_then_reply(engine: Engine, app: Any, text: str) -> None:
    """Clinic glow enrolls patient p-1, who then texts `text`; both requests must succeed."""
    with session_scope(engine) as session:
        _clinic, secret = create_clinic(
            session, "glow", "Glow Clinic", default_region="ES", email=ALERTS
        )
    with TestClient(app) as client:
        body = event_body("treatment.completed", treatment_completed())
        enrolled = client.post(
            "/v1/clinics/glow/events", content=body, headers=signed_headers(secret, body)
        )
        assert enrolled.status_code == 202
        form = {"From": "+34612345678", "Body": text, "MessageSid": "SMw"}
        signature = RequestValidator(TWILIO_TOKEN).compute_signature(
            PUBLIC_URL + "/v1/twilio/inbound", form
        )
        answer = client.post(
            "/v1/twilio/inbound", data=form, headers={"X-Twilio-Signature": signature}
        )
        assert answer.status_code == 200  # whatever the mail server said


def the_reply(engine: Engine) -> InboundReply:
    with Session(engine) as session:
        [reply] = session.exec(select(InboundReply)).all()
        return reply


def test_a_warning_sign_reply_emails_the_clinic_through_smtp(
    engine: Engine, database_url: str, redis_url: str
) -> None:
    with SmtpServer() as smtp:
        app = app_mailing_through(smtp, database_url, redis_url)
        enroll_then_reply(engine, app, "The redness is spreading and I have pus")
        [mail] = smtp.handler.messages
    assert mail["To"] == ALERTS
    assert "pus" in mail["Subject"] and "spreading redness" in mail["Subject"]
    content = mail.get_body(("plain",)).get_content()
    assert "The redness is spreading and I have pus" in content and "p-1" in content
    reply = the_reply(engine)
    assert reply.kind == "warning" and reply.alerted_at is not None


def test_an_alert_smtp_deferred_is_sent_by_the_retry_once_smtp_accepts(
    engine: Engine, database_url: str, redis_url: str
) -> None:
    with SmtpServer() as smtp:
        smtp.handler.rcpt_reply = "451 4.3.0 mailbox busy, try later"
        app = app_mailing_through(smtp, database_url, redis_url)
        enroll_then_reply(engine, app, "swelling and fever")
        assert smtp.handler.messages == []
        reply = the_reply(engine)
        assert reply.alerted_at is None and reply.alert_due_at is not None
        smtp.handler.rcpt_reply = None
        email = app.state.reminders.channels["email"]
        retry_time = reply.alert_due_at + timedelta(seconds=1)
        assert deliver_due_alerts(engine, email, lambda: retry_time, renderer=Renderer()) == {
            "sent": 1
        }
        [mail] = smtp.handler.messages
    assert mail["To"] == ALERTS and "swelling" in mail["Subject"]


def test_when_smtp_refuses_the_reply_is_kept_unalerted_for_operators(
    engine: Engine, database_url: str, redis_url: str
) -> None:
    with SmtpServer() as smtp:
        smtp.handler.rcpt_reply = "550 5.1.1 no such mailbox"
        enroll_then_reply(engine, app_mailing_through(smtp, database_url, redis_url), "fever")
    reply = the_reply(engine)
    assert reply.kind == "warning" and reply.alerted_at is None
    assert reply.alert_due_at is None and "550" in (reply.alert_error or "")
