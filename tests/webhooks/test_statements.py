"""What a clinic event asks of the database: the webhook's hot path, statement by statement."""

from __future__ import annotations

from sqlalchemy import event as sa_event

from tests.webhooks.conftest import Hooks, treatment_completed


def statements_of_one_event(hooks: Hooks) -> list[str]:
    engine = hooks.client.app.state.reminders.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(" ".join(statement.split()))

    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        response = hooks.post_event("treatment.completed", treatment_completed())
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 202, response.text
    return statements


def test_the_earlier_stop_check_rides_on_the_patient_upsert(hooks: Hooks) -> None:
    statements = statements_of_one_event(hooks)
    stop_checks = [s for s in statements if "patient AS stopped" in s]
    assert len(stop_checks) == 1
    assert stop_checks[0].startswith("INSERT INTO patient")


def test_the_receipt_is_stored_without_fetching_its_generated_id(hooks: Hooks) -> None:
    receipts = [s for s in statements_of_one_event(hooks) if "INTO webhookreceipt" in s]
    assert len(receipts) == 1
    assert "RETURNING" not in receipts[0]


def test_a_new_patients_event_writes_each_table_once_and_on_postgresql_reads_once(
    hooks: Hooks,
) -> None:
    heads = [" ".join(s.split()[:3]) for s in statements_of_one_event(hooks)]
    writes = [
        "INSERT INTO patient",
        "INSERT INTO treatment",
        "INSERT INTO message",
        "INSERT INTO webhookreceipt",
    ]
    assert [head for head in heads if head.startswith("INSERT")] == writes
    if hooks.engine.dialect.name == "postgresql":
        # SQLite also reads the numbers the event stops texting and, since it cannot tell a new
        # patient from a known one, the patient's outbox.
        assert heads == ["SELECT clinic.id, clinic.name,", *writes]
