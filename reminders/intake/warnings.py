"""PURE: what a clinic should hear about an accepted event: what will not be sent, odd spacing."""

from __future__ import annotations

from datetime import datetime, timedelta

from reminders.delivery.sendcheck import Reachable, consent_problem

# From AFTERCARE.md "The course of treatment"; a booking outside SPACING is the clinic's call.
COURSE_RULE = "Significant change needs a series of 3-6 sessions, spaced 4-6 weeks apart"
SPACING = (timedelta(weeks=4), timedelta(weeks=12))
NOTHING_SENT = {"sms": "nothing will be texted", "email": "nothing will be emailed"}


def contact_warnings(patient: Reachable) -> list[str]:
    """A line per channel the patient cannot be written to, e.g. 'no SMS consent: ...'."""
    found = []
    for channel, outcome in NOTHING_SENT.items():
        reason = consent_problem(channel, patient)
        if reason is not None:
            found.append(f"{reason}: {outcome}")
    return found


def spacing_warning(
    treatment_id: str, ended_at: datetime, next_session_at: datetime | None
) -> str | None:
    """A warning when the next session is booked under 4 or over 12 weeks after this one."""
    if next_session_at is None:
        return None
    gap = next_session_at - ended_at
    low, high = SPACING
    if low <= gap <= high:
        return None
    weeks = gap / timedelta(weeks=1)
    return (
        f"treatment {treatment_id}: next session {weeks:.1f} weeks later, outside "
        f"{low.days // 7}-{high.days // 7} weeks (accepted; the clinic decides): {COURSE_RULE}"
    )
