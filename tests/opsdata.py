"""Outbox rows in chosen states, for the operator tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reminders.models import MESSAGES
from tests.factories import make_clinic, make_patient_with_treatment

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class Outbox:
    """A clinic, one patient and a way to add rows in any status."""

    def __init__(self, engine: Engine, clinic_id: str = "clinic-a", patient: str = "p-1") -> None:
        self.engine = engine
        make_clinic(engine, clinic_id)
        self.clinic_id = clinic_id
        self.patient, self.treatment = make_patient_with_treatment(engine, clinic_id, patient)
        self.count = 0

    def add(self, status: str, channel: str = "sms", **fields: Any) -> int:
        """Insert one row; returns its id."""
        self.count += 1
        due = fields.pop("due_at", NOW - timedelta(hours=1))
        row: dict[str, Any] = dict(
            idempotency_key=f"{self.treatment.id}:s{self.count}:{channel}",
            clinic_id=self.clinic_id,
            patient_id=self.patient.id,
            treatment_id=self.treatment.id,
            step_key=f"step_{self.count}",
            channel=channel,
            status=status,
            due_at=due,
            next_attempt_at=due,
            attempts=1,
            protocol_version="test",
            created_at=NOW - timedelta(days=1),
            updated_at=fields.pop("updated_at", NOW - timedelta(minutes=30)),
        )
        row.update(fields)
        with self.engine.begin() as connection:
            return int(
                connection.execute(sa.insert(MESSAGES).returning(MESSAGES.c.id), row).scalar_one()
            )

    def row(self, message_id: int) -> Any:
        """The row as it is now."""
        with self.engine.connect() as connection:
            stmt = sa.select(MESSAGES).where(MESSAGES.c.id == message_id)
            return connection.execute(stmt).one()
