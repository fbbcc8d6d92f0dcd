"""The message tally: its figures equal a full count, folded or not, after changes and moves."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.models import MESSAGES, TALLY, TOTALS
from reminders.ops import tally
from reminders.ops.overview import status_counts
from reminders.outbox import lifecycle as lc
from tests.history_helpers import full_count, sessions
from tests.opsdata import NOW, Outbox


def fill(box: Outbox) -> list[int]:
    return [
        box.add(lc.PENDING, due_at=NOW + timedelta(days=2)),
        box.add(lc.SENT),
        box.add(lc.SENT, "email"),
        box.add(lc.DELIVERED),
        box.add(lc.CANCELLED),
        box.add(lc.SKIPPED, "email"),
        box.add(lc.FAILED),
        box.add(lc.UNKNOWN),
    ]


def set_status(engine: Engine, message_id: int, status: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            MESSAGES.update().where(MESSAGES.c.id == message_id).values(status=status)
        )


def counted(engine: Engine, clinic_ids: set[str] | None = None) -> dict[tuple[str, str], int]:
    with Session(engine) as session:
        return status_counts(session, clinic_ids)


def test_counts_equal_a_full_count_before_and_after_folding(engine: Engine) -> None:
    fill(Outbox(engine))
    assert counted(engine) == full_count(engine)
    folded = tally.fold_all(sessions(engine), NOW)
    assert folded == 5  # the finished rows only
    assert counted(engine) == full_count(engine)
    with engine.connect() as connection:
        for table in (TALLY, TOTALS):
            assert connection.execute(sa.select(sa.func.sum(table.c.count))).scalar_one() == 5


def test_rows_that_change_after_folding_are_counted_as_they_stand(engine: Engine) -> None:
    box = Outbox(engine)
    sent, _, _, cancelled, _, failed, unknown = fill(box)[1:]
    tally.fold_all(sessions(engine), NOW)
    set_status(engine, sent, lc.DELIVERED)  # a status report after folding
    set_status(engine, cancelled, lc.PENDING)  # a re-plan revives it
    set_status(engine, failed, lc.PENDING)  # an operator's retry
    set_status(engine, unknown, lc.SENT)  # reconciliation found it
    assert counted(engine) == full_count(engine)
    tally.fold_all(sessions(engine), NOW + timedelta(days=1))
    assert counted(engine) == full_count(engine)
    with Session(engine) as session:
        assert tally.fold(session, NOW) == 0  # nothing left to fold


def test_a_clinic_sees_only_its_own_counts(engine: Engine) -> None:
    fill(Outbox(engine, "clinic-a", "p-a"))
    b = Outbox(engine, "clinic-b", "p-b")
    b.add(lc.DELIVERED, "email")
    tally.fold_all(sessions(engine), NOW)
    b.add(lc.SENT)
    assert counted(engine, {"clinic-b"}) == {("delivered", "email"): 1, ("sent", "sms"): 1}
    assert counted(engine, {"clinic-a"}) == full_count(engine, "clinic-a")
    assert counted(engine, set()) == {}
