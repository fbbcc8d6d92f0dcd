"""The timeline picture's layout and the dashboard's lag wording."""

from __future__ import annotations

from datetime import timedelta

from reminders.api.ops import human_duration
from reminders.ops.listing import MessageRow
from reminders.ops.timeline import LANES, lay_out
from reminders.outbox import lifecycle as lc
from tests.opsdata import NOW


def row(status: str, due_in: timedelta, channel: str = "sms", reason: str | None = None):
    return MessageRow(
        id=1,
        clinic_id="c",
        patient_id=1,
        patient_external_id="p",
        first_name="Ana",
        contact="-",
        step_key="day_1",
        channel=channel,
        status=status,
        due_at=NOW + due_in,
        sent_at=None,
        delivered_at=None,
        attempts=0,
        provider_code=None,
        reason=reason,
        last_error=None,
    )


def test_the_past_lies_left_of_now_and_the_future_right_in_channel_lanes() -> None:
    past = row(lc.DELIVERED, timedelta(days=-2))
    skipped = row(lc.SKIPPED, timedelta(days=-1), "email", reason="patient opted out")
    future = row(lc.PENDING, timedelta(days=3))
    picture = lay_out([past, skipped, future], NOW)
    a, b, c = picture.marks
    assert picture.now_x is not None and a.x < b.x < picture.now_x < c.x
    assert (a.kind, b.kind, c.kind) == ("delivered", "skipped", "upcoming")
    assert (a.y, b.y) == (LANES["sms"], LANES["email"])
    assert b.title.endswith(": patient opted out")


def test_an_overdue_pending_message_is_marked_overdue_and_ticks_never_overprint() -> None:
    rows = [row(lc.PENDING, timedelta(minutes=-5 - n)) for n in range(3)]
    rows.append(row(lc.PENDING, timedelta(days=30)))
    picture = lay_out(rows, NOW)
    assert picture.marks[0].kind == "overdue"
    xs = [x for x, _label in picture.ticks]
    assert all(b - a >= 45 for a, b in zip(xs, xs[1:], strict=False))


def test_nothing_to_draw_for_a_patient_without_messages() -> None:
    assert lay_out([], NOW).marks == []


def test_lag_is_worded_for_people() -> None:
    assert [human_duration(s) for s in (42, 420, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == [
        "42 s",
        "7 min",
        "3 h 5 min",
        "2 d 4 h",
    ]
