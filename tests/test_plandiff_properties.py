"""Properties of the pure re-plan diff: it converges on the fresh plan and is idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from reminders.models import Message
from reminders.planning.plandiff import RowChange, diff_plan, planned_values
from reminders.planning.planner import Course, PatientFacts, PlannedMessage, plan
from reminders.planning.protocol import load_protocol

PROTOCOL = load_protocol()
ENDED = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)


@st.composite
def plans(draw: st.DrawFn) -> list[PlannedMessage]:
    ended = ENDED + timedelta(hours=draw(st.integers(-48, 48)))
    zone = draw(st.sampled_from(["America/New_York", "Asia/Kathmandu", "Australia/Adelaide"]))
    channels = draw(st.frozensets(st.sampled_from(["sms", "email"])))
    booked = draw(st.none() | st.integers(20, 50).map(lambda d: ended + timedelta(days=d)))
    planned = draw(st.integers(1, 3))
    course = Course(draw(st.integers(1, planned)), planned, booked)
    return plan(ended, PatientFacts(zone, channels=channels), PROTOCOL, course=course)


def rows_of(items: list[PlannedMessage]) -> list[Message]:
    return [
        Message(
            id=n,
            idempotency_key=f"1:{item.key}:{item.channel}",
            clinic_id="c",
            patient_id=1,
            treatment_id=1,
            step_key=item.key,
            channel=item.channel,
            **planned_values(item),
        )
        for n, item in enumerate(items)
    ]


def applied(rows: list[Message], changes: list[RowChange]) -> list[Message]:
    by_id = {row.id: row for row in rows}
    for change in changes:
        if change.action == "insert":
            assert change.planned is not None
            rows += rows_of([change.planned])
            rows[-1].id = 1000 + len(rows)
        else:
            for name, value in change.values:
                setattr(by_id[change.message_id], name, value)
    return rows


@settings(max_examples=200, deadline=None)
@given(plans(), plans(), st.sets(st.integers(0, 30)))
def test_diff_converges_on_the_fresh_plan_and_never_touches_sent_rows(
    before: list[PlannedMessage], after: list[PlannedMessage], sent: set[int]
) -> None:
    rows = rows_of(before)
    for row in rows:
        if row.id in sent and row.status == "pending":
            row.status, row.sent_at, row.provider_id = "sent", ENDED, "SM"
    frozen = {row.id: row.model_dump() for row in rows if row.status == "sent"}
    rows = applied(rows, diff_plan(rows, after, "gone"))
    assert {row.id: row.model_dump() for row in rows if row.id in frozen} == frozen
    assert diff_plan(rows, after, "gone") == []
    live = {(r.step_key, r.channel): r.due_at for r in rows if r.status == "pending"}
    wanted = {(m.key, m.channel): m.due_at for m in after if m.status == "planned"}
    sent_slots = {(r.step_key, r.channel) for r in rows if r.status == "sent"}
    assert live == {slot: due for slot, due in wanted.items() if slot not in sent_slots}
