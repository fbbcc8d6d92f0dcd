"""The warnings an accepted event carries: channels that will stay silent, odd session spacing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reminders.intake.warnings import COURSE_RULE, contact_warnings, spacing_warning
from reminders.models import Patient

ENDED = datetime(2030, 5, 1, 13, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("days", "warned"), [(13, True), (27, True), (28, False), (84, False), (85, True), (98, True)]
)
def test_a_next_session_under_4_or_over_12_weeks_later_is_warned_about(
    days: int, warned: bool
) -> None:
    found = spacing_warning("t-1", ENDED, ENDED + timedelta(days=days))
    assert (found is not None) is warned
    assert found is None or (COURSE_RULE in found and found.startswith("treatment t-1:"))


def test_no_booked_session_is_no_spacing_warning() -> None:
    assert spacing_warning("t-1", ENDED, None) is None


def test_each_silent_channel_is_named_with_what_will_not_happen() -> None:
    patient = Patient(
        clinic_id="c", external_id="p", phone="+34612345678", consent_sms=False,
        email=None, consent_email=True,
    )  # fmt: skip
    assert contact_warnings(patient) == [
        "no SMS consent: nothing will be texted",
        "no email address: nothing will be emailed",
    ]
