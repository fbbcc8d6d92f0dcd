"""A whole flow on real processes, then every process's log is searched for personal data."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from reminders.cli.webhook_sender import send_event
from reminders.consent.unsubscribe import token_for
from reminders.db import session_scope
from reminders.intake.clinics import create_clinic
from reminders.models import MESSAGES, PATIENTS
from tests.factories import zone_where_it_is_now_eleven
from tests.fakes.smtp_server import SmtpServer
from tests.fakes.twilio_server import FakeTwilio
from tests.harness import (
    BIN,
    TEST_SECRET_KEY,
    ServiceProcess,
    celery_beat_argv,
    celery_worker_argv,
    service_env,
)
from tests.processes import free_port, wait_ready

# Distinctive, so that a hit can only be this test's patients.
SENT = {"name": "Zebulonia", "phone": "+12025550187", "email": "zebulonia.quist@example.org"}
REFUSED = {"name": "Quillermo", "phone": "+12025550176", "email": "quillermo.vantz@example.org"}
CLINIC_MAIL = "alerts@clinic-flow.example"


def patient(who: dict[str, str], external_id: str, tz: str, ended: datetime) -> dict:
    return {
        "patient": {
            "external_id": external_id, "first_name": who["name"], "phone": who["phone"],
            "email": who["email"], "timezone": tz, "locale": "en",
            "consent": {"sms": True, "email": True},
        },
        "treatment": {"external_id": f"t-{external_id}", "ended_at": ended.isoformat(),
                      "sessions_planned": 3},
    }  # fmt: skip


def statuses(engine: Engine) -> dict[tuple[str, str], str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(PATIENTS.c.first_name, MESSAGES.c.channel, MESSAGES.c.status).join(
                PATIENTS, PATIENTS.c.id == MESSAGES.c.patient_id
            )
        ).all()
    found: dict[tuple[str, str], str] = {}
    for name, channel, status in rows:
        if status != "pending":
            found[(name, channel)] = status
    return found


def wait_until(done, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the flow did not finish in time"
        time.sleep(0.3)


def test_a_whole_flow_writes_no_name_phone_email_or_unsubscribe_token_to_any_log(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    tz = zone_where_it_is_now_eleven(now)  # treated 10:30 local yesterday: prompts are due
    ended = (now.astimezone(ZoneInfo(tz)) - timedelta(days=1)).replace(hour=10, minute=30)
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with FakeTwilio() as fake, SmtpServer() as smtp:
        fake.fail(400, 21211, to=REFUSED["phone"])
        smtp.handler.refuse[SENT["email"]] = (
            f"550 5.1.1 <{SENT['email']}>: Recipient address rejected: User unknown"
        )
        env = service_env(
            database_url, redis_url, key_prefix, tmp_path,
            REMINDERS_PUBLIC_URL=public, REMINDERS_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}",
            REMINDERS_DISPATCH_INTERVAL_SECONDS="1", **fake.env(),
        )  # fmt: skip
        api = ServiceProcess(
            [str(BIN / "reminders"), "api", "--port", str(port)], env, tmp_path / "api.log"
        )
        worker = ServiceProcess(celery_worker_argv(), env, tmp_path / "worker.log")
        beat = ServiceProcess(celery_beat_argv(), env, tmp_path / "beat.log")
        with session_scope(engine) as session:
            clinic, secret = create_clinic(
                session, "clinic-flow", "Flow Clinic", email=CLINIC_MAIL,
                protocol_overrides={"steps": {"first_night": {"valid_hours": 30}}},
            )  # fmt: skip
            clinic.window_start = clinic.window_end = datetime.min.time()  # always open
        try:
            api.start()
            wait_ready(f"{public}/healthz", api.process)
            for who, external_id in ((SENT, "p-sent"), (REFUSED, "p-refused")):
                answer = send_event(
                    public, "clinic-flow", secret, "treatment.completed",
                    patient(who, external_id, tz, ended),
                )  # fmt: skip
                assert answer.status_code == 202, answer.text
            worker.start(ready_text="ready.")
            beat.start()
            wait_until(
                lambda: (
                    {("Zebulonia", "sms"), ("Zebulonia", "email"), ("Quillermo", "sms")}
                    <= set(statuses(engine))
                    and "sending" not in statuses(engine).values()
                )
            )
            form = {"From": SENT["phone"], "Body": "fever and pus tonight", "MessageSid": "SMin1"}
            signature = RequestValidator(fake.auth_token).compute_signature(
                f"{public}/v1/twilio/inbound", form
            )
            inbound = httpx.post(
                f"{public}/v1/twilio/inbound", data=form,
                headers={"X-Twilio-Signature": signature}, timeout=10,
            )  # fmt: skip
            assert inbound.status_code == 200
            with engine.connect() as connection:
                patient_id = connection.execute(
                    select(PATIENTS.c.id).where(PATIENTS.c.external_id == "p-sent")
                ).scalar_one()
            token = token_for(patient_id, TEST_SECRET_KEY.encode())
            unsubscribed = httpx.get(f"{public}/v1/unsubscribe/{token}", timeout=10)
            assert unsubscribed.status_code == 200
            time.sleep(1.5)  # let the processes write what they would
        finally:
            beat.stop()
            worker.stop()
            api.stop()
        alerts = [m for m in smtp.handler.messages if m["To"] == CLINIC_MAIL]
    result = statuses(engine)
    assert result[("Zebulonia", "sms")] in ("sent", "delivered")
    assert result[("Zebulonia", "email")] == "failed"
    assert result[("Quillermo", "sms")] == "failed"
    assert alerts, "the warning reply reached the clinic"
    logs = {p.name: p.output() for p in (api, worker, beat)}
    assert "GET /v1/unsubscribe/" in logs["api"]  # the access log is on, only the token is gone
    secrets = [token, token.split(".")[1]]
    for who in (SENT, REFUSED):
        secrets += [who["name"], who["phone"], who["phone"][2:], who["email"]]
    for name, text in logs.items():
        for value in secrets:
            assert value not in text, f"{value!r} in the {name} log"
    with engine.connect() as connection:
        stored = " ".join(
            str(value)
            for row in connection.execute(select(MESSAGES.c.reason, MESSAGES.c.last_error))
            for value in row
        )
    for who in (SENT, REFUSED):
        assert who["phone"] not in stored and who["email"] not in stored
    # What an operator needs stays: the SMTP reply code, Twilio's code, the masked recipient.
    assert "SMTP 550 for the recipient: 5.1.1 <z•••@example.org>" in stored
    assert "(code 21211)" in stored
    assert "+1•••••••176" in stored
