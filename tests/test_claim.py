"""Claiming due rows is atomic: concurrent claimers never take the same row."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from reminders.models import MESSAGES
from reminders.outbox.claim import claim_due
from tests.factories import insert_due_messages, make_clinic, make_patient_with_treatment
from tests.harness import migrated_engine, new_database


def seed(engine: Engine, due: int, future: int = 0) -> None:
    make_clinic(engine)
    patient, treatment = make_patient_with_treatment(engine)
    assert patient.id is not None and treatment.id is not None
    now = datetime.now(UTC)
    insert_due_messages(
        engine, due, "clinic-a", patient.id, treatment.id, now - timedelta(minutes=1)
    )
    if future:
        insert_due_messages(
            engine,
            future,
            "clinic-a",
            patient.id,
            treatment.id,
            now + timedelta(days=3),
            step_key="later",
        )


def test_two_concurrent_claimers_claim_each_due_row_exactly_once(any_engine: Engine) -> None:
    seed(any_engine, due=1000)
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def claimer(name: str) -> None:
        start.wait()
        while ids := claim_due(any_engine, datetime.now(UTC), 37, name, timedelta(minutes=2)):
            claimed[name].extend(ids)

    threads = [threading.Thread(target=claimer, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    everything = claimed["a"] + claimed["b"]
    assert len(everything) == 1000
    assert len(set(everything)) == 1000
    assert claimed["a"] and claimed["b"], "both claimers should have won some rows"


def test_claim_takes_only_due_rows_and_marks_them_claimed_with_a_lease(any_engine: Engine) -> None:
    seed(any_engine, due=5, future=7)
    now = datetime.now(UTC)
    ids = claim_due(any_engine, now, 100, "me", timedelta(minutes=2))
    assert len(ids) == 5
    with any_engine.connect() as connection:
        rows = connection.execute(select(MESSAGES).where(MESSAGES.c.id.in_(ids))).all()
        pending = connection.execute(
            select(func.count()).where(MESSAGES.c.status == "pending")
        ).scalar_one()
    assert {row.status for row in rows} == {"claimed"}
    assert {row.lease_owner for row in rows} == {"me"}
    assert all(row.lease_expires_at > now for row in rows)
    assert pending == 7


def test_claim_respects_the_limit_and_oldest_first(any_engine: Engine) -> None:
    seed(any_engine, due=10)
    first = claim_due(any_engine, datetime.now(UTC), 4, "me", timedelta(minutes=2))
    second = claim_due(any_engine, datetime.now(UTC), 100, "me", timedelta(minutes=2))
    assert len(first) == 4 and len(second) == 6
    assert not set(first) & set(second)


def test_on_sqlite_the_claim_walks_the_pending_index_and_sorts_nothing(tmp_path: Path) -> None:
    engine = migrated_engine(new_database(None, tmp_path))
    seed(engine, due=3, future=50)
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        statements.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    assert len(claim_due(engine, datetime.now(UTC), 10, "w", timedelta(minutes=2))) == 3
    event.remove(engine, "before_cursor_execute", capture)
    statement, params = next(s for s in statements if "WITH due" in s[0])
    with engine.connect() as connection:
        plan = " | ".join(
            row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
        )
    assert "USING INDEX ix_message_due" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
