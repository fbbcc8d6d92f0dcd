"""An app on the test database with a clinic, a signer for its webhooks and one for Twilio's."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select
from twilio.request_validator import RequestValidator

from reminders.api.app import create_app
from reminders.channels.base import Channel
from reminders.channels.console import ConsoleChannel
from reminders.cli.webhook_sender import event_body, signed_headers
from reminders.config import load_settings
from reminders.consent.gate import ConsentGate
from reminders.db import session_scope
from reminders.intake.clinics import create_clinic
from reminders.intake.effects import EXPLAINED
from reminders.models import MESSAGES, PATIENTS, TREATMENTS, Message, Patient, Treatment

TWILIO_TOKEN = "test-auth-token"
PUBLIC_URL = "https://hooks.example.org"
CLINIC = "glow"
# When the app receives events: half an hour after treatment_completed()'s session ended.
NOW = datetime(2030, 5, 1, 14, 0, tzinfo=UTC)


@dataclass
class SetClock:
    """The app's clock for clinic events; a test moves it by setting `now`."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


def treatment_completed(
    patient: str = "p-1",
    treatment: str = "t-1",
    ended_at: str = "2030-05-01T15:30:00+02:00",
    **extra: Any,
) -> dict[str, Any]:
    """A valid treatment.completed data object (tests change one field at a time)."""
    data: dict[str, Any] = {
        "patient": {
            "external_id": patient,
            "first_name": "Ana",
            "phone": "+34 612 345 678",
            "email": "ana@example.com",
            "timezone": "Europe/Madrid",
            "locale": "es",
            "consent": {"sms": True, "email": True},
        },
        "treatment": {
            "external_id": treatment,
            "ended_at": ended_at,
            "area": "face",
            "needle_depth_mm": 1.0,
            "session_number": 1,
            "sessions_planned": 3,
        },
    }
    for path, value in extra.items():
        part, _, name = path.partition("__")
        data[part][name] = value
    return data


LINK_SECRET = "test-link-secret"
OPERATOR_TOKEN = "test-operator-token"


@dataclass
class Hooks:
    """The client, the engine, the clinic's secret and what the email channel received."""

    client: TestClient
    engine: Engine
    secret: str
    alerts: io.StringIO
    clock: SetClock = field(default_factory=SetClock)
    sent: list[str] = field(default_factory=list)

    def post_event(
        self,
        kind: str,
        data: dict[str, Any],
        webhook_id: str | None = None,
        secret: str | None = None,
        at: datetime | None = None,
        clinic: str = CLINIC,
    ) -> Any:
        """Sign and post an event as the clinic would."""
        body = event_body(kind, data)
        headers = signed_headers(secret or self.secret, body, webhook_id, at)
        return self.client.post(f"/v1/clinics/{clinic}/events", content=body, headers=headers)

    def post_twilio(self, path: str, form: dict[str, str], token: str = TWILIO_TOKEN) -> Any:
        """Post a form signed as Twilio signs it."""
        signature = RequestValidator(token).compute_signature(PUBLIC_URL + path, form)
        return self.client.post(path, data=form, headers={"X-Twilio-Signature": signature})

    def plan(self, patient: str = "p-1") -> dict[tuple[str, str], str]:
        """(step, channel) -> status for the patient's rows."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(Message)
                .join(Patient, col(Patient.id) == Message.patient_id)
                .where(Patient.external_id == patient)
            )
            return {(row.step_key, row.channel): row.status for row in rows}

    def stored_plan(self, patient: str = "p-1") -> list[dict[str, str]]:
        """The patient's outbox read back, shaped and ordered as the 202 answer's plan."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(
                    TREATMENTS.c.external_id,
                    MESSAGES.c.step_key,
                    MESSAGES.c.channel,
                    MESSAGES.c.due_at,
                    MESSAGES.c.status,
                    MESSAGES.c.reason,
                )
                .join(TREATMENTS, TREATMENTS.c.id == MESSAGES.c.treatment_id)
                .join(PATIENTS, PATIENTS.c.id == MESSAGES.c.patient_id)
                .where(PATIENTS.c.external_id == patient)
                .order_by(MESSAGES.c.due_at, MESSAGES.c.id)
            )
            return [
                {
                    "treatment_id": treatment,
                    "key": key,
                    "channel": channel,
                    "due_at": due_at.isoformat(),
                    "status": status,
                    "reason": reason if status in EXPLAINED else None,
                }
                for treatment, key, channel, due_at, status, reason in rows
            ]

    def patient(self, external_id: str = "p-1") -> Patient:
        """The stored patient."""
        with Session(self.engine) as session:
            found = session.exec(select(Patient).where(Patient.external_id == external_id)).one()
            return found

    def treatment(self, external_id: str = "t-1") -> Treatment:
        """The stored treatment."""
        with Session(self.engine) as session:
            return session.exec(select(Treatment).where(Treatment.external_id == external_id)).one()

    def counts(self) -> dict[str, int]:
        """Row counts of every table: a rejected request must leave them all unchanged."""
        with self.engine.connect() as connection:
            return {
                table.name: connection.execute(
                    sa.select(sa.func.count()).select_from(table)
                ).scalar_one()
                for table in SQLModel.metadata.sorted_tables
            }


def make_app(
    database_url: str,
    redis_url: str,
    channels: dict[str, Channel],
    gate: ConsentGate | None = None,
    clock: SetClock | None = None,
    **changed: Any,
) -> Any:
    """The real application on the test database; clinic events arrive at the clock's time."""
    settings = load_settings(
        database_url=database_url,
        redis_url=redis_url,
        twilio_auth_token=TWILIO_TOKEN,
        public_url=PUBLIC_URL,
        secret_key=LINK_SECRET,
        operator_token=OPERATOR_TOKEN,
        **changed,
    )
    return create_app(settings, channels=channels, gate=gate, clock=clock or SetClock())


@pytest.fixture
def hooks(engine: Engine, database_url: str, redis_url: str) -> Iterator[Hooks]:
    """A running app and a clinic (glow) with its secret, alert email and phone."""
    with open_hooks(engine, database_url, redis_url) as opened:
        yield opened


@contextmanager
def open_hooks(
    engine: Engine, database_url: str, redis_url: str, gate: ConsentGate | None = None
) -> Iterator[Hooks]:
    """The `hooks` fixture's app and clinic, with a consent gate of the test's choosing."""
    with session_scope(engine) as session:
        _clinic, secret = create_clinic(
            session,
            CLINIC,
            "Glow Clinic",
            default_region="ES",
            phone="+34 911 234 567",
            email="alerts@glow.example",
            window="00:00-00:00",
        )
    alerts = io.StringIO()
    channels: dict[str, Channel] = {
        "sms": ConsoleChannel("sms", stream=io.StringIO(), show_bodies=True),
        "email": ConsoleChannel("email", stream=alerts, show_bodies=True),
    }
    clock = SetClock()
    with TestClient(make_app(database_url, redis_url, channels, gate, clock)) as client:
        yield Hooks(client, engine, secret, alerts, clock)


def dumps(value: Any) -> str:
    """Compact JSON for comparisons."""
    return json.dumps(value, sort_keys=True)
