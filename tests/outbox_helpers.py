"""Set-ups shared by the outbox tests: due rows, claims, reading rows back."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from reminders.delivery.deliverer import Deliverer
from reminders.delivery.policy import DeliveryPolicy
from reminders.delivery.rendering import Renderer
from reminders.models import MESSAGES
from reminders.outbox.claim import claim_due
from tests.factories import insert_due_messages, make_clinic, make_patient_with_treatment


def due_rows(
    engine: Engine,
    count: int = 1,
    channel: str = "sms",
    caps: tuple[int, int] = (100, 100),
    now: datetime | None = None,
    step_key: str = "day_1",
    **patient: Any,
) -> list[int]:
    """`count` due rows for one consenting patient of an always-open clinic, claimed at `now`."""
    now = now or datetime.now(UTC)
    make_clinic(
        engine, window_start=time(0), window_end=time(0), sms_per_day=caps[0], sms_per_week=caps[1]
    )
    person, treatment = make_patient_with_treatment(engine, **patient)
    assert person.id is not None and treatment.id is not None
    insert_due_messages(
        engine,
        count,
        "clinic-a",
        person.id,
        treatment.id,
        now - timedelta(minutes=1),
        step_key=step_key,
        channel=channel,
    )
    return claim_due(engine, now, 1000, "test", timedelta(minutes=2))


POLICY_FIELDS = {setting.name for setting in fields(DeliveryPolicy)}


def deliverer(engine: Engine, channel: Any, **options: Any) -> Deliverer:
    """A Deliverer over one fake channel for both kinds; policy settings go into its policy."""
    settings = {name: options.pop(name) for name in POLICY_FIELDS & options.keys()}
    settings.setdefault("public_url", "http://test")
    settings.setdefault("link_key", b"test-key")
    return Deliverer(
        engine,
        {"sms": channel, "email": channel},
        Renderer(),
        DeliveryPolicy(**settings),
        options.pop("clock", lambda: datetime.now(UTC)),
        **options,
    )


def row(engine: Engine, message_id: int) -> Any:
    """The outbox row as stored."""
    with engine.connect() as connection:
        return connection.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).one()
