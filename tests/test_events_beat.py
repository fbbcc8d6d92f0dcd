"""A real Celery worker and beat post a clinic's queued event to its endpoint, signed, once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from reminders.db import session_scope
from reminders.events.emission import emit
from reminders.events.posting import wall_clock
from reminders.models import Clinic
from tests.events_helpers import events, give_endpoint
from tests.factories import make_clinic
from tests.fakes.event_receiver import EventReceiver
from tests.harness import service_env
from tests.test_end_to_end import run_worker_and_beat


def test_beat_posts_a_queued_event_to_the_clinics_endpoint(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    make_clinic(engine, "clinic-a")
    with EventReceiver() as receiver:
        receiver.secret = give_endpoint(engine, "clinic-a", receiver.url)
        with session_scope(engine) as session:
            clinic = session.get(Clinic, "clinic-a")
            assert clinic is not None
            emit(session, clinic, "patient.opted_out", {"patient": {"external_id": "p-1"}},
                 wall_clock())  # fmt: skip
        env = service_env(
            database_url, redis_url, key_prefix, tmp_path / "var",
            REMINDERS_EVENTS_INTERVAL_SECONDS="0.5", REMINDERS_EVENTS_ALLOW_LOCAL_HTTP="true",
        )  # fmt: skip
        log = run_worker_and_beat(
            env, tmp_path, done=lambda: events(engine)[0].status == "delivered", settle=1.5
        )
    [event] = events(engine)
    assert event.status == "delivered", log
    [received] = receiver.received  # several ticks later, still once
    assert received.verified and received.webhook_id == event.webhook_id
    assert received.payload is not None and received.payload["type"] == "patient.opted_out"
