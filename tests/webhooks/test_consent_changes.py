"""Clinic events that stop texting a number pass the consent gate, as a texted STOP does."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reminders.consent.changes import withdraws_sms
from reminders.consent.gate import RowLockGate
from reminders.intake.csv_rows import import_rows
from reminders.intake.events import Event, parse_event
from reminders.models import PATIENTS
from tests.webhooks.conftest import CLINIC, NOW, open_hooks, treatment_completed

STORED = "+34612345678"  # the phone treatment_completed() enrolls


def event(kind: str, data: dict[str, Any]) -> Event:
    return parse_event({"type": kind, "data": data}, "ES", NOW)


def completed(phone: str | None = STORED, consent_sms: bool = True) -> Event:
    data = treatment_completed(patient__phone=phone, patient__consent={"sms": consent_sms})
    return event("treatment.completed", data)


def completed_without_phone_or_consent() -> Event:
    data = treatment_completed()
    del data["patient"]["phone"], data["patient"]["consent"]
    return event("treatment.completed", data)


def updated(**values: Any) -> Event:
    if "consent_sms" in values:
        values["consent"] = {"sms": values.pop("consent_sms")}
    return event("patient.updated", {"patient": {"external_id": "p-1", **values}})


def opted_out(channel: str) -> Event:
    return event("patient.opted_out", {"patient_id": "p-1", "channel": channel})


@pytest.mark.parametrize(
    ("event", "withdraws"),
    [
        (opted_out("sms"), True),
        (opted_out("all"), True),
        (opted_out("email"), False),
        (completed(), False),
        (completed(consent_sms=False), True),
        (completed(phone="+34622000111"), True),
        (completed(phone=None), True),
        (completed_without_phone_or_consent(), False),
        (updated(timezone="America/New_York"), False),
        (updated(phone=STORED), False),
        (updated(phone=None), True),
        (updated(phone="+34622000111"), True),
        (updated(consent_sms=False), True),
        (updated(consent_sms=None), True),
        (updated(consent_sms=True), False),
        (event("appointment.cancelled", {"patient_id": "p-1"}), False),
    ],
)
def test_an_event_withdraws_sms_when_it_removes_the_number_or_its_consent(
    event: Event, withdraws: bool
) -> None:
    assert withdraws_sms(event, STORED) is withdraws


class WatchingGate(RowLockGate):
    """A gate that orders changes and records, per change, whether SMS could go before and after."""

    orders_changes = True

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.changes: list[tuple[list[str], bool, bool]] = []

    @contextmanager
    def changing(self, numbers: Iterable[str]) -> Iterator[None]:
        wanted = list(numbers)
        before = self.textable()
        yield
        if wanted:
            self.changes.append((wanted, before, self.textable()))

    def textable(self) -> bool:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(PATIENTS.c.phone, PATIENTS.c.consent_sms, PATIENTS.c.sms_opted_out_at)
            ).first()
        return row is not None and row.phone == STORED and row.consent_sms and not row[2]


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("patient.opted_out", {"patient_id": "p-1", "channel": "sms"}),
        ("patient.updated", {"patient": {"external_id": "p-1", "phone": None}}),
        ("patient.updated", {"patient": {"external_id": "p-1", "consent": {"sms": False}}}),
        ("treatment.completed", treatment_completed(patient__phone="+34 622 000 111")),
    ],
)
def test_a_clinic_event_that_stops_texting_a_number_commits_inside_the_gate(
    engine: Engine, database_url: str, redis_url: str, kind: str, data: dict
) -> None:
    gate = WatchingGate(engine)
    with open_hooks(engine, database_url, redis_url, gate) as hooks:
        assert hooks.post_event("treatment.completed", treatment_completed()).status_code == 202
        assert hooks.post_event(kind, data).status_code == 202
    assert gate.changes == [([STORED], True, False)]


def test_a_clinic_event_that_keeps_the_number_does_not_wait_at_the_gate(
    engine: Engine, database_url: str, redis_url: str
) -> None:
    gate = WatchingGate(engine)
    with open_hooks(engine, database_url, redis_url, gate) as hooks:
        hooks.post_event("treatment.completed", treatment_completed())
        moved = {"patient": {"external_id": "p-1", "timezone": "America/New_York"}}
        assert hooks.post_event("patient.updated", moved).status_code == 202
        assert hooks.post_event("treatment.completed", treatment_completed()).status_code == 202
    assert gate.changes == []


def test_an_imported_row_that_withdraws_sms_commits_inside_the_gate(
    engine: Engine, database_url: str, redis_url: str
) -> None:
    gate = WatchingGate(engine)
    with open_hooks(engine, database_url, redis_url, gate) as hooks:
        hooks.post_event("treatment.completed", treatment_completed())
    row = {
        "external_id": "p-1",
        "first_name": "Ana",
        "phone": "+34 612 345 678",
        "timezone": "Europe/Madrid",
        "consent_sms": "no",
        "treatment_id": "t-1",
        "ended_at": "2030-05-01T15:30:00+02:00",
    }
    report = import_rows(engine, CLINIC, [(2, row)], gate=gate, clock=lambda: NOW)
    assert report.enrolled == 1
    assert gate.changes == [([STORED], True, False)]
