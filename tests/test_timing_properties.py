"""Properties of advice timing: nothing arrives before it is true, in the words it arrives in."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from reminders.delivery.composition import context_for
from reminders.delivery.rendering import Renderer
from reminders.models import Clinic, Patient, Treatment
from reminders.planning.overrides import apply_overrides
from reminders.planning.planner import ClinicPolicy, Course, PlannedMessage, plan
from reminders.planning.protocol import Protocol
from tests.planner_cases import PROTOCOL, QUARTER_HOURS, Case, cases, run, sent

RENDERER = Renderer()
CLINIC = Clinic(id="c", name="Glow", phone="+1 555 010 0000", booking_url="https://g.example/b")
# Words that mean "the day of the treatment" (any step), and those that do in first_night only.
TREATMENT_DAY_WORDS = re.compile(r"\btonight\b|\besta noche\b", re.IGNORECASE)
FIRST_NIGHT_DAY_WORDS = re.compile(r"\btoday\b|\bhoy\b", re.IGNORECASE)
TOMORROW_WORDS = re.compile(r"\btomorrow\b|\bes mañana\b|\besperamos mañana\b", re.IGNORECASE)


@st.composite
def retimings(draw: st.DrawFn) -> dict[str, Any]:
    """A clinic's overrides moving some steps anywhere, even earlier than their advice."""
    keys = draw(st.lists(st.sampled_from([s.key for s in PROTOCOL.steps]), max_size=4))
    steps: dict[str, Any] = {}
    for key in keys:
        if PROTOCOL.step(key).anchor == "next_session":
            continue  # these count backwards; their own cases are in tests/test_planner.py
        if draw(st.booleans()):
            steps[key] = {"hours": draw(st.integers(0, 400))}
        else:
            steps[key] = {"days": draw(st.integers(0, 20)), "at": f"{draw(QUARTER_HOURS):%H:%M}"}
        steps[key]["valid_hours"] = draw(st.integers(1, 72))
    return {"steps": steps}


def texts(message: PlannedMessage, case: Case, lang: str) -> list[str]:
    """What the patient reads: the real templates rendered at the moment the message is due."""
    patient = Patient(id=1, clinic_id="c", external_id="p", first_name="Ana",
                      timezone=case.patient.timezone, locale=lang)  # fmt: skip
    treatment = Treatment(clinic_id="c", patient_id=1, external_id="t", ended_at=case.ended,
                          next_session_at=case.course.next_session_at)  # fmt: skip
    context = context_for(patient, CLINIC, treatment, "https://x", True, b"k", message.due_at)
    if message.channel == "sms":
        return [RENDERER.sms(message.key, lang, context)]
    email = RENDERER.email(message.key, lang, context)
    return [email.subject, email.text, email.html]


def local_day(moment: datetime, case: Case) -> Any:
    return moment.astimezone(ZoneInfo(case.patient.timezone)).date()


def assert_true_when_due(messages: list[PlannedMessage], case: Case, protocol: Protocol) -> None:
    for message in sent(messages):
        earliest = timedelta(hours=protocol.step(message.key).not_before_hours)
        assert message.due_at - case.ended >= earliest, message


@settings(max_examples=300, deadline=None)
@given(cases())
def test_no_step_is_due_before_its_advice_is_true(case: Case) -> None:
    assert_true_when_due(run(case), case, PROTOCOL)


@settings(max_examples=200, deadline=None)
@given(cases(), retimings())
def test_a_clinic_retiming_a_step_cannot_make_its_advice_early(
    case: Case, overrides: dict[str, Any]
) -> None:
    protocol = apply_overrides(PROTOCOL, overrides)
    messages = plan(case.ended, case.patient, protocol, case.policy, case.course,
                    other_sms=case.other_sms, now=case.now)  # fmt: skip
    assert_true_when_due(messages, case, protocol)


@settings(max_examples=150, deadline=None)
@given(cases(), st.sampled_from(["en", "es"]))
def test_nothing_says_tonight_or_tomorrow_on_the_wrong_day(case: Case, lang: str) -> None:
    session = case.course.next_session_at
    for message in sent(run(case)):
        treatment_day = local_day(message.due_at, case) == local_day(case.ended, case)
        day_before = session is not None and (
            local_day(session, case) - local_day(message.due_at, case)
        ) == timedelta(days=1)
        for text in texts(message, case, lang):
            if not treatment_day:
                assert not TREATMENT_DAY_WORDS.search(text), (message, text)
                if message.key == "first_night":
                    assert not FIRST_NIGHT_DAY_WORDS.search(text), (message, text)
            if not day_before:
                assert not TOMORROW_WORDS.search(text), (message, text)


@settings(max_examples=200, deadline=None)
@given(cases())
def test_makeup_advice_never_follows_the_first_night_advice_within_hours(case: Case) -> None:
    planned = {(m.key, m.channel): m.due_at for m in sent(run(case))}
    for channel in ("sms", "email"):
        first, day_1 = planned.get(("first_night", channel)), planned.get(("day_1", channel))
        if first is not None and day_1 is not None:
            assert day_1 - first >= timedelta(hours=6)


EARLY = frozenset(s.key for s in PROTOCOL.steps if s.priority == 1)


def early_texts(messages: list[PlannedMessage]) -> list[PlannedMessage]:
    return [m for m in messages if m.key in EARLY and m.channel == "sms"]


def texting(case: Case, per_day: int, per_week: int) -> Case:
    """The case for a patient who takes texts, under the given caps."""
    window = (case.policy.window_start, case.policy.window_end)
    return replace(
        case,
        patient=replace(case.patient, channels=frozenset({"sms", "email"})),
        policy=ClinicPolicy(*window, sms_per_day=per_day, sms_per_week=per_week),
    )


@settings(max_examples=300, deadline=None)
@given(cases(), st.integers(1, 10 * 24), st.integers(1, 2), st.integers(1, 4))
def test_a_session_booked_soon_never_changes_the_early_aftercare_texts(
    case: Case, hours_later: int, per_day: int, per_week: int
) -> None:
    assert {"first_night", "day_1", "day_3"} == EARLY
    case = texting(case, per_day, per_week)
    booked = replace(case, course=Course(1, 3, case.ended + timedelta(hours=hours_later)))
    last = replace(case, course=Course(3, 3))  # no session reminders, no booking nudges
    assert early_texts(run(booked)) == early_texts(run(last))


@settings(max_examples=300, deadline=None)
@given(cases(), st.integers(1, 45 * 24), st.integers(1, 2), st.integers(1, 4))
def test_a_booked_session_never_costs_the_next_treatment_its_early_texts(
    case: Case, hours_later: int, per_day: int, per_week: int
) -> None:
    # The next treatment ends at the booked session and is fitted around this course's texts:
    # the session reminders and later steps take only room its days 0-3 do not need.
    case = texting(case, per_day, per_week)
    session = case.ended + timedelta(hours=hours_later)
    this_course = run(replace(case, course=Course(1, 3, session)))

    def next_early_texts(before: list[PlannedMessage]) -> list[PlannedMessage]:
        taken = [*case.other_sms, *(m.due_at for m in sent(before) if m.channel == "sms")]
        after = plan(session, case.patient, PROTOCOL, case.policy, Course(2, 3),
                     other_sms=taken, now=case.now)  # fmt: skip
        return early_texts(after)

    only_early = [m for m in this_course if m.key in EARLY]
    assert next_early_texts(this_course) == next_early_texts(only_early)
