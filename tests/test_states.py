"""The outbox state machine: every move from every status, in the table and in the database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from reminders.models import MESSAGES, Message, movable
from reminders.outbox import lifecycle as lc
from reminders.outbox.claim import claim_due
from reminders.outbox.lifecycle import Move, Status
from reminders.planning.rewrites import rewrite_rows
from tests.factories import insert_due_messages, make_clinic, make_patient_with_treatment

# The legal moves written out once more, by hand: the table must say exactly this.
SPEC = """
claim             pending                                  -> claimed
release           claimed                                  -> pending
expire            claimed                                  -> pending
start             claimed                                  -> sending
exhaust           claimed                                  -> dead
send              sending                                  -> sent
defer             sending                                  -> pending
fail              sending                                  -> failed
die               sending                                  -> dead
lose              sending                                  -> unknown
skip              sending                                  -> skipped
drop              sending                                  -> cancelled
found             unknown                                  -> sent
not_found         unknown                                  -> pending
report_sent       claimed sending unknown                  -> sent
report_delivered  claimed sending unknown sent             -> delivered
report_failed     claimed sending unknown sent             -> failed
replan            pending cancelled skipped                -> pending
replan_skip       pending cancelled skipped                -> skipped
replan_cancel     pending                                  -> cancelled
skip_missed       pending                                  -> skipped
withhold          pending                                  -> skipped
retry             failed dead                              -> pending
resend            failed dead unknown                      -> pending
cancel            pending claimed unknown failed dead      -> cancelled
"""
EXPECTED = {
    Move(line.split()[0]): (set(line.split("->")[0].split()[1:]), line.split("->")[1].strip())
    for line in SPEC.strip().splitlines()
}
PAIRS = [(move, status) for move in Move for status in Status]


def test_the_spec_names_every_move_once() -> None:
    assert set(EXPECTED) == set(Move) == set(lc.MOVES)


@pytest.mark.parametrize(("move", "status"), PAIRS)
def test_a_move_is_allowed_from_its_sources_and_refused_from_every_other_status(
    move: Move, status: Status
) -> None:
    assert lc.allowed(status, move) == (status in EXPECTED[move][0])


@pytest.mark.parametrize("move", list(Move))
def test_each_move_leads_where_the_spec_says(move: Move) -> None:
    assert lc.target(move) == EXPECTED[move][1]


def test_statuses_are_stored_as_the_same_strings_as_before() -> None:
    assert lc.STATUSES == (
        "pending", "claimed", "sending", "sent", "delivered",
        "cancelled", "skipped", "failed", "dead", "unknown",
    )  # fmt: skip
    assert lc.PENDING == "pending" and f"{lc.SENT}" == "sent"


def test_a_send_attempt_is_recorded_only_from_sending_and_only_to_an_outcome() -> None:
    for status, move in lc.OUTCOMES.items():
        assert lc.sources(move) == (lc.SENDING,) and lc.target(move) == status
    assert set(lc.OUTCOMES) == {
        "sent",
        "pending",
        "failed",
        "dead",
        "unknown",
        "skipped",
        "cancelled",
    }
    for status in ("claimed", "sending", "delivered", "bogus"):
        with pytest.raises(ValueError, match="cannot end in"):
            lc.outcome_move(status)


def test_a_replan_only_makes_rows_pending_skipped_or_cancelled() -> None:
    assert {lc.target(lc.replan_move(s)) for s in ("pending", "skipped", "cancelled")} == {
        "pending",
        "skipped",
        "cancelled",
    }
    with pytest.raises(ValueError, match="re-plan cannot"):
        lc.replan_move("sent")


def test_the_attempt_ceiling_allows_exactly_max_attempts() -> None:
    assert [lc.may_start(n, 3) for n in range(5)] == [True, True, True, False, False]


def one_row(engine: Engine) -> int:
    make_clinic(engine)
    patient, treatment = make_patient_with_treatment(engine)
    assert patient.id is not None and treatment.id is not None
    insert_due_messages(engine, 1, "clinic-a", patient.id, treatment.id, datetime.now(UTC))
    with engine.connect() as connection:
        return int(connection.execute(MESSAGES.select()).one().id)


def test_every_move_changes_a_row_only_from_its_sources_in_the_database(
    any_engine: Engine,
) -> None:
    message_id = one_row(any_engine)
    outcomes = []
    with any_engine.begin() as connection:
        for move, status in PAIRS:
            connection.execute(update(MESSAGES).values(status=status))
            changed = connection.execute(
                update(MESSAGES)
                .where(MESSAGES.c.id == message_id, movable(move))
                .values(status=lc.target(move))
            ).rowcount
            outcomes.append((move, status, changed))
    assert outcomes == [(m, s, int(s in EXPECTED[m][0])) for m, s in PAIRS]


def test_the_database_refuses_a_status_outside_the_state_machine(any_engine: Engine) -> None:
    one_row(any_engine)
    with pytest.raises(IntegrityError), any_engine.begin() as connection:
        connection.execute(update(MESSAGES).values(status="bogus"))


def test_the_migrated_constraint_lists_exactly_the_enums_statuses(any_engine: Engine) -> None:
    checks = inspect(any_engine).get_check_constraints("message")
    [check] = [c for c in checks if c["name"] == "ck_message_status"]
    assert set(re.findall(r"'(\w+)'", check["sqltext"])) == set(Status)


def test_a_replan_leaves_alone_a_row_a_worker_claimed_after_it_was_read(
    any_engine: Engine,
) -> None:
    message_id = one_row(any_engine)
    with Session(any_engine) as session:
        pending = session.get(Message, message_id)
        assert pending is not None and pending.status == "pending"
        claim_due(any_engine, datetime.now(UTC) + timedelta(minutes=1), 10, "w1", timedelta(1))
        rewrite_rows(session, [(pending, {"status": "cancelled", "reason": "no longer planned"})])
        session.commit()
        assert pending.status == "claimed"  # read again, not what the re-plan wished for
    with any_engine.connect() as connection:
        assert connection.execute(MESSAGES.select()).one().status == "claimed"


def test_a_replan_rewrites_a_row_still_pending_and_keeps_its_object_in_step(
    any_engine: Engine,
) -> None:
    message_id = one_row(any_engine)
    with Session(any_engine) as session:
        pending = session.get(Message, message_id)
        assert pending is not None
        rewrite_rows(session, [(pending, {"status": "cancelled", "reason": "no longer planned"})])
        session.commit()
        assert (pending.status, pending.reason) == ("cancelled", "no longer planned")
    with any_engine.connect() as connection:
        assert connection.execute(MESSAGES.select()).one().status == "cancelled"
