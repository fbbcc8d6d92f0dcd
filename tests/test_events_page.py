"""The dashboard's events page: operators only, dead events first, filtered, never a body."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from reminders.events.emission import event_row
from reminders.models import EVENTS
from tests.factories import make_clinic
from tests.opsclient import BEARER, make_client

NOW = datetime(2030, 5, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def client(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> Iterator[TestClient]:
    with make_client(database_url, redis_url, key_prefix, tmp_path) as client:
        yield client


def stored(engine: Engine, clinic_id: str, status: str, text: str) -> int:
    row = event_row(clinic_id, "patient.replied", {"reply": {"text": text}}, NOW)
    row.update(status=status, last_error="HTTP 500" if status == "dead" else None)
    with engine.begin() as connection:
        return int(
            connection.execute(sa.insert(EVENTS).values(row).returning(EVENTS.c.id)).scalar_one()
        )


def test_the_events_page_needs_an_operator(client: TestClient) -> None:
    assert client.get("/ops/events").status_code == 401
    assert client.get("/ops/events", headers=BEARER).status_code == 200


def test_dead_and_recent_events_are_listed_by_clinic_without_their_bodies(
    client: TestClient, engine: Engine
) -> None:
    make_clinic(engine, "clinic-a")
    make_clinic(engine, "clinic-b")
    dead = stored(engine, "clinic-a", "dead", "words of clinic a's patient")
    stored(engine, "clinic-b", "delivered", "words of clinic b's patient")
    page = client.get("/ops/events", headers=BEARER).text
    dead_table = page.split('id="dead-events"')[1].split("</table>")[0]
    assert f"<td>{dead}</td>" in dead_table and "HTTP 500" in dead_table
    assert "clinic-b" not in dead_table
    assert "words of" not in page
    only_b = client.get("/ops/events?clinic=clinic-b", headers=BEARER).text
    assert "No dead events." in only_b and "delivered" in only_b.split('id="recent-events"')[1]
