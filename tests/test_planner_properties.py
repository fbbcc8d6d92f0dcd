"""Properties of the planner over zones, DST nights, treatment times and clinic policies."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings

from reminders.planning.caps import within_caps
from reminders.planning.planner import applies
from tests.planner_cases import PROTOCOL, Case, cases, run, sent


@settings(max_examples=200, deadline=None)
@given(cases())
def test_nothing_is_planned_outside_the_sending_window(case: Case) -> None:
    policy = case.policy
    for message in sent(run(case)):
        clock = message.due_at.astimezone(ZoneInfo(case.patient.timezone)).time()
        assert policy.any_time or policy.window_start <= clock < policy.window_end, message


@settings(max_examples=200, deadline=None)
@given(cases())
def test_sms_caps_are_never_exceeded_together_with_the_patients_other_texts(case: Case) -> None:
    policy, zone = case.policy, ZoneInfo(case.patient.timezone)
    assume(within_caps(case.other_sms, policy.sms_per_day, policy.sms_per_week, zone))
    texts = [m.due_at for m in sent(run(case)) if m.channel == "sms"]
    assert within_caps([*texts, *case.other_sms], policy.sms_per_day, policy.sms_per_week, zone)


@settings(max_examples=200, deadline=None)
@given(cases())
def test_nothing_is_due_before_the_treatment_ended_or_after_it_expires(case: Case) -> None:
    for message in sent(run(case)):
        assert message.due_at >= case.ended
        assert message.valid_until is not None and message.due_at <= message.valid_until
        assert case.now is None or message.valid_until > case.now


@settings(max_examples=200, deadline=None)
@given(cases())
def test_every_applicable_step_is_planned_or_skipped_with_a_reason(case: Case) -> None:
    messages = run(case)
    expected = sorted(
        (step.key, channel)
        for step in PROTOCOL.steps
        if applies(step, case.course)
        for channel in step.channels
    )
    assert sorted((m.key, m.channel) for m in messages) == expected
    for message in messages:
        assert message.status in ("planned", "skipped")
        assert (message.status == "skipped") == bool(message.reason)


@settings(max_examples=200, deadline=None)
@given(cases())
def test_the_same_input_gives_the_same_plan(case: Case) -> None:
    assert run(case) == run(case)
