"""Set-ups shared by the clinic-event tests: clinics with endpoints, reading events back."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reminders.intake.clinics import new_secret
from reminders.models import CLINICS, EVENTS


def give_endpoint(engine: Engine, clinic_id: str, url: str = "https://a.example/hooks") -> str:
    """Register an events endpoint for the clinic; its signing secret."""
    secret = new_secret()
    with engine.begin() as connection:
        connection.execute(
            sa.update(CLINICS)
            .where(CLINICS.c.id == clinic_id)
            .values(events_url=url, events_secret=secret)
        )
    return secret


def events(engine: Engine, clinic_id: str | None = None) -> list[Any]:
    """Stored events, oldest first, of one clinic or all."""
    query = sa.select(EVENTS).order_by(EVENTS.c.id)
    if clinic_id is not None:
        query = query.where(EVENTS.c.clinic_id == clinic_id)
    with engine.connect() as connection:
        return list(connection.execute(query))


def kinds(engine: Engine, clinic_id: str | None = None) -> list[str]:
    """The types of the stored events, oldest first."""
    return [event.event_type for event in events(engine, clinic_id)]
