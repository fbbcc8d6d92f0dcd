"""The planner on named cases: DST nights, odd offsets, windows, caps and validity."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from reminders.planning.overrides import apply_overrides
from reminders.planning.planner import (
    ClinicPolicy,
    Course,
    PatientFacts,
    PlannedMessage,
    PolicyError,
    plan,
)
from reminders.planning.protocol import load_protocol

PROTOCOL = load_protocol()


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def one(messages: list[PlannedMessage], key: str, channel: str = "email") -> PlannedMessage:
    [found] = [m for m in messages if m.key == key and m.channel == channel]
    return found


def test_day_one_at_ten_is_ten_local_across_the_new_york_spring_forward() -> None:
    ended = local("America/New_York", 2026, 3, 7, 9, 0)  # 10:00 EDT next day is 24 h later
    messages = plan(ended, PatientFacts("America/New_York"), PROTOCOL)
    day_1 = one(messages, "day_1", "sms")
    assert day_1.due_at == datetime(2026, 3, 8, 14, 0, tzinfo=UTC)
    assert day_1.local_due_at.isoformat() == "2026-03-08T10:00:00-04:00"
    assert one(messages, "first_night", "sms").due_at == datetime(2026, 3, 7, 14, tzinfo=UTC)


def test_sydney_prompts_stay_at_ten_local_when_daylight_saving_ends() -> None:
    # Sydney leaves DST at 03:00 on 2026-04-05 (UTC+11 -> UTC+10).
    ended = local("Australia/Sydney", 2026, 4, 3, 9, 0)
    messages = plan(ended, PatientFacts("Australia/Sydney"), PROTOCOL)
    day_1 = one(messages, "day_1")
    day_3 = one(messages, "day_3")
    assert day_1.due_at == datetime(2026, 4, 3, 23, 0, tzinfo=UTC)  # 10:00 +11:00
    assert day_3.due_at == datetime(2026, 4, 6, 0, 0, tzinfo=UTC)  # 10:00 +10:00
    assert {m.local_due_at.hour for m in messages if m.key.startswith("day_")} == {10}


def test_kolkata_treatment_ending_at_ten_to_eight_gets_its_first_night_prompt_at_once() -> None:
    ended = local("Asia/Kolkata", 2026, 6, 1, 19, 50)
    messages = plan(ended, PatientFacts("Asia/Kolkata"), PROTOCOL)
    first = one(messages, "first_night", "sms")
    assert first.status == "planned" and first.due_at == datetime(2026, 6, 1, 14, 20, tzinfo=UTC)
    # "Makeup is OK" waits a full day: 19:50 the next evening, still inside the window.
    assert one(messages, "day_1", "sms").due_at == datetime(2026, 6, 2, 14, 20, tzinfo=UTC)


def test_late_treatment_moves_first_night_to_window_start_and_day_one_waits_a_day() -> None:
    # Before: day 1 ("makeup is OK") came at 10:00, two hours after the first-night message
    # ("no makeup for 24 h") and 13.5 h after the treatment; its SMS was lost to the cap.
    ended = local("Europe/Madrid", 2026, 6, 1, 20, 30)
    messages = plan(ended, PatientFacts("Europe/Madrid"), PROTOCOL)
    first = one(messages, "first_night", "sms")
    assert first.local_due_at == local("Europe/Madrid", 2026, 6, 2, 8, 0)
    for channel in ("sms", "email"):
        day_1 = one(messages, "day_1", channel)
        assert day_1.status == "planned"
        assert day_1.local_due_at == local("Europe/Madrid", 2026, 6, 3, 8, 0)


def test_a_window_that_never_opens_in_time_skips_first_night_with_a_reason() -> None:
    policy = ClinicPolicy(window_start=time(13), window_end=time(14))
    ended = local("UTC", 2026, 6, 1, 15, 0)
    first = one(plan(ended, PatientFacts("UTC"), PROTOCOL, policy), "first_night")
    assert first.status == "skipped"
    assert first.reason == "no time inside the sending window before it expires"


def test_any_time_window_sends_at_night() -> None:
    policy = ClinicPolicy(window_start=time(0), window_end=time(0))
    ended = local("UTC", 2026, 6, 1, 23, 30)
    first = one(plan(ended, PatientFacts("UTC"), PROTOCOL, policy), "first_night")
    assert first.due_at == ended


def test_window_wrapping_past_midnight_is_rejected_naming_the_field() -> None:
    with pytest.raises(PolicyError, match="window_end: .*wraps past midnight"):
        ClinicPolicy(window_start=time(22), window_end=time(6))


def test_prompts_already_expired_at_planning_time_are_skipped_not_sent_late() -> None:
    ended = local("UTC", 2026, 6, 1, 12, 0)
    messages = plan(ended, PatientFacts("UTC"), PROTOCOL, now=ended + timedelta(days=2))
    assert one(messages, "first_night").status == "skipped"
    assert one(messages, "first_night").reason == "expired before it could be planned"
    assert one(messages, "day_3").status == "planned"


def test_nudges_need_remaining_sessions_and_no_booking() -> None:
    ended = local("UTC", 2026, 6, 1, 12, 0)
    unbooked = plan(ended, PatientFacts("UTC"), PROTOCOL, course=Course(1, 3))
    assert {"book_next_session", "book_next_session_again"} <= {m.key for m in unbooked}
    assert "results_check_in" not in {m.key for m in unbooked}
    booked = plan(
        ended,
        PatientFacts("UTC"),
        PROTOCOL,
        course=Course(1, 3, local("UTC", 2026, 7, 6, 9, 30)),
    )
    keys = {m.key for m in booked}
    assert "book_next_session" not in keys and "session_day_before" in keys
    assert one(booked, "session_week_before").due_at == datetime(2026, 6, 29, 10, tzinfo=UTC)
    assert one(booked, "session_day_before").due_at == datetime(2026, 7, 5, 10, tzinfo=UTC)


def test_last_session_gets_a_results_check_in_about_three_months_later() -> None:
    ended = local("UTC", 2026, 6, 1, 12, 0)
    check_in = one(
        plan(ended, PatientFacts("UTC"), PROTOCOL, course=Course(3, 3)), "results_check_in"
    )
    assert timedelta(days=85) < check_in.due_at - ended < timedelta(days=95)


def test_session_reminder_never_goes_after_the_session_it_announces() -> None:
    ended = local("UTC", 2026, 6, 1, 12, 0)
    soon = local("UTC", 2026, 6, 3, 9, 0)  # booked for two days later
    week_before = one(
        plan(ended, PatientFacts("UTC"), PROTOCOL, course=Course(1, 3, soon)), "session_week_before"
    )
    assert week_before.valid_until is not None and week_before.valid_until <= soon
    assert week_before.status == "skipped" or week_before.due_at < soon


def test_other_treatments_texts_push_this_plans_sms_to_a_free_day() -> None:
    ended = local("UTC", 2026, 6, 1, 8, 0)
    taken = [datetime(2026, 6, 4, 9, tzinfo=UTC)]  # day 3 already has a text
    policy = ClinicPolicy(sms_per_week=7)
    messages = plan(ended, PatientFacts("UTC"), PROTOCOL, policy, other_sms=taken)
    day_3 = one(messages, "day_3", "sms")
    assert day_3.status == "planned" and day_3.due_at == datetime(2026, 6, 5, 10, tzinfo=UTC)
    assert one(messages, "day_3", "email").due_at == datetime(2026, 6, 4, 10, tzinfo=UTC)


def test_rolling_week_cap_skips_a_fourth_text_within_seven_days() -> None:
    ended = local("UTC", 2026, 6, 1, 12, 0)
    taken = [datetime(2026, 6, 4, 9, tzinfo=UTC)]
    day_3 = one(plan(ended, PatientFacts("UTC"), PROTOCOL, other_sms=taken), "day_3", "sms")
    assert day_3.status == "skipped" and "3 a week" in (day_3.reason or "")


def test_missing_consent_is_skipped_with_a_reason() -> None:
    ended = local("UTC", 2026, 6, 1, 12, 0)
    messages = plan(ended, PatientFacts("UTC", channels=frozenset({"email"})), PROTOCOL)
    assert {m.reason for m in messages if m.channel == "sms"} == {"no consent or contact for sms"}


def test_disabled_step_is_planned_as_skipped_and_messages_carry_the_version() -> None:
    protocol = apply_overrides(PROTOCOL, {"steps": {"day_7": {"enabled": False}}})
    messages = plan(local("UTC", 2026, 6, 1, 12, 0), PatientFacts("UTC"), protocol)
    assert one(messages, "day_7").status == "skipped"
    assert {m.protocol_version for m in messages} == {protocol.label}


def test_naive_treatment_end_and_unknown_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="treatment_end"):
        plan(datetime(2026, 6, 1, 12), PatientFacts("UTC"), PROTOCOL)
    with pytest.raises(ValueError, match="timezone: 'Mars/Olympus'"):
        plan(local("UTC", 2026, 6, 1), PatientFacts("Mars/Olympus"), PROTOCOL)


def test_window_end_is_exclusive_so_a_treatment_ending_at_eight_pm_waits_for_morning() -> None:
    ended = local("Europe/Madrid", 2026, 6, 1, 20, 0)
    first = one(plan(ended, PatientFacts("Europe/Madrid"), PROTOCOL), "first_night")
    assert first.local_due_at == local("Europe/Madrid", 2026, 6, 2, 8, 0)


def test_a_late_evening_treatment_gets_makeup_advice_a_full_day_later() -> None:
    # Before: day 1 came at 10:00 the next morning, 11.5 h after the treatment.
    ended = local("America/New_York", 2026, 3, 7, 21, 30)
    messages = plan(ended, PatientFacts("America/New_York"), PROTOCOL)
    first = one(messages, "first_night", "sms")
    assert first.local_due_at == local("America/New_York", 2026, 3, 8, 8, 0)
    for channel in ("sms", "email"):
        day_1 = one(messages, "day_1", channel)
        assert day_1.status == "planned" and day_1.due_at - ended >= timedelta(hours=24)
        assert day_1.local_due_at == local("America/New_York", 2026, 3, 9, 8, 0)


def test_a_clinic_moving_day_one_to_two_hours_still_waits_a_full_day() -> None:
    protocol = apply_overrides(PROTOCOL, {"steps": {"day_1": {"days": 0, "hours": 2}}})
    ended = local("UTC", 2026, 6, 1, 12, 0)
    day_1 = one(plan(ended, PatientFacts("UTC"), protocol), "day_1", "sms")
    assert day_1.status == "planned" and day_1.due_at == ended + timedelta(hours=24)


def test_with_tight_caps_and_a_session_soon_the_early_steps_keep_their_texts() -> None:
    ended = local("UTC", 2026, 6, 1, 12, 0)
    course = Course(1, 3, next_session_at=local("UTC", 2026, 6, 5, 12, 0))
    policy = ClinicPolicy(sms_per_day=1, sms_per_week=3)
    messages = plan(ended, PatientFacts("UTC"), PROTOCOL, policy, course)
    for key in ("first_night", "day_1", "day_3"):
        assert one(messages, key, "sms").status == "planned", key
    for key in ("session_week_before", "session_day_before"):
        reminder = one(messages, key, "sms")
        assert reminder.status == "skipped" and "SMS caps" in (reminder.reason or "")
        assert one(messages, key, "email").status == "planned"


def test_session_reminders_leave_sms_room_for_the_next_treatments_first_days() -> None:
    ended = local("UTC", 2026, 6, 1, 12, 0)
    session = ended + timedelta(days=28)
    messages = plan(ended, PatientFacts("UTC"), PROTOCOL, course=Course(1, 3, session))
    assert one(messages, "session_week_before", "sms").status == "planned"
    day_before = one(messages, "session_day_before", "sms")
    assert day_before.status == "skipped"
    assert day_before.reason is not None and "next treatment's first days" in day_before.reason
    assert one(messages, "session_day_before", "email").status == "planned"
    # The next treatment, ended at the session and fitted around these texts, keeps its own.
    texts = [m.due_at for m in messages if m.channel == "sms" and m.status == "planned"]
    after = plan(session, PatientFacts("UTC"), PROTOCOL, course=Course(2, 3), other_sms=texts)
    for key in ("first_night", "day_1", "day_3"):
        assert one(after, key, "sms").status == "planned", key


def test_with_room_in_the_caps_both_session_reminders_keep_their_texts() -> None:
    ended = local("UTC", 2026, 6, 1, 12, 0)
    course = Course(1, 3, ended + timedelta(days=28))
    policy = ClinicPolicy(sms_per_day=1, sms_per_week=4)
    messages = plan(ended, PatientFacts("UTC"), PROTOCOL, policy, course)
    for key in ("session_week_before", "session_day_before"):
        assert one(messages, key, "sms").status == "planned", key
