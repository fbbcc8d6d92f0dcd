"""PURE: turn a treatment, a patient, a clinic policy and a protocol into planned messages."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from reminders.planning.caps import SmsLedger, free_sms_slot, no_slot_reason
from reminders.planning.localtime import at_local, into_window, zone_of
from reminders.planning.protocol import Protocol, Step


class PolicyError(ValueError):
    """A clinic policy is invalid; the message names the field and the rule."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


@dataclass(frozen=True)
class PatientFacts:
    """What the planner needs of a patient: zone, language and usable channels."""

    timezone: str
    locale: str = "en"
    channels: frozenset[str] = frozenset({"sms", "email"})


@dataclass(frozen=True)
class ClinicPolicy:
    """When a clinic lets us write: a local sending window (start == end: any time) and caps."""

    window_start: time = time(8, 0)
    window_end: time = time(20, 0)
    sms_per_day: int = 1
    sms_per_week: int = 3

    def __post_init__(self) -> None:
        if self.window_start > self.window_end:
            raise PolicyError(
                "window_end",
                f"the sending window {self.window_start:%H:%M}-{self.window_end:%H:%M} wraps "
                "past midnight; give a start before the end (equal means any time)",
            )
        for field in ("sms_per_day", "sms_per_week"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise PolicyError(field, "must be a whole number >= 0")

    @property
    def any_time(self) -> bool:
        """Whether the window is open all day."""
        return self.window_start == self.window_end


@dataclass(frozen=True)
class Course:
    """Where this treatment sits in its course of sessions."""

    session_number: int = 1
    sessions_planned: int = 1
    next_session_at: datetime | None = None


@dataclass(frozen=True)
class PlannedMessage:
    """One step on one channel: when it is due (UTC) or why it is skipped."""

    key: str
    channel: str
    due_at: datetime
    valid_until: datetime | None
    status: str = "planned"
    reason: str | None = None
    protocol_version: str = ""
    timezone: str = "UTC"

    @property
    def local_due_at(self) -> datetime:
        """`due_at` in the patient's zone."""
        return self.due_at.astimezone(ZoneInfo(self.timezone))


# Over 40 lines only through its keyword arguments and their docstring; the loop is short.
def plan(
    treatment_end: datetime,
    patient: PatientFacts,
    protocol: Protocol,
    policy: ClinicPolicy = ClinicPolicy(),
    course: Course = Course(),
    *,
    other_sms: Iterable[datetime] = (),
    settled: Collection[tuple[str, str]] = frozenset(),
    now: datetime | None = None,
) -> list[PlannedMessage]:
    """Plan every step that applies to this course, sorted by due time.

    `other_sms`: the patient's SMS times already promised elsewhere (they count against the
    caps). `settled`: (step, channel) slots already sent or in flight, which take no new cap
    slot. `now`: steps whose validity has passed by then are planned as skipped.
    """
    if treatment_end.tzinfo is None:
        raise ValueError("treatment_end: must be timezone-aware")
    zone = zone_of(patient.timezone)
    ledger = SmsLedger(policy.sms_per_day, policy.sms_per_week, zone, other_sms)
    # The SMS caps are shared out by priority first, then by time, so a session reminder never
    # takes the slot of an early aftercare step; the result is sorted by due time.
    timed = sorted(
        (step.priority, *timing(step, treatment_end, course, zone, policy), index, step)
        for index, step in enumerate(protocol.steps)
        if applies(step, course)
    )
    ahead: list[tuple[int, datetime]] | None = None
    booked = course.next_session_at is not None and "sms" in patient.channels
    planned: list[PlannedMessage] = []
    for priority, due, valid_until, _, step in timed:
        if booked and priority > timed[0][0]:
            # Once this plan's most important texts have their slots, hold room for the next
            # treatment's texts that outrank the steps still to place (the session reminders).
            if ahead is None:
                ahead = next_treatment_texts(
                    course, patient, protocol, policy, timed[-1][0], ledger.times, now
                )
            while ahead and ahead[0][0] < priority:
                ledger.hold(ahead.pop(0)[1])
        for channel in step.channels:
            item = PlannedMessage(
                step.key, channel, due, valid_until, "planned", None, protocol.label, zone.key
            )
            sms_slot = channel == "sms" and (step.key, channel) not in settled
            planned.append(placed(item, step, patient, ledger, policy, sms_slot, now))
    return sorted(planned, key=lambda item: (item.due_at, item.key, item.channel))


def placed(
    item: PlannedMessage,
    step: Step,
    patient: PatientFacts,
    ledger: SmsLedger,
    policy: ClinicPolicy,
    sms_slot: bool,
    now: datetime | None,
) -> PlannedMessage:
    """The item as planned: skipped with the reason, or due at a time the SMS caps allow."""
    reason = blocked(step, item.channel, patient, item, now)
    if reason is None and sms_slot:
        assert item.valid_until is not None
        slot = free_sms_slot(ledger, item.due_at, item.valid_until, policy)
        if slot is None:
            reason = no_slot_reason(ledger, item.due_at, item.valid_until, policy)
        else:
            ledger.take(slot)
            item = replace(item, due_at=slot)
    return item if reason is None else replace(item, status="skipped", reason=reason)


def next_treatment_texts(
    course: Course,
    patient: PatientFacts,
    protocol: Protocol,
    policy: ClinicPolicy,
    below: int,
    taken: Iterable[datetime],
    now: datetime | None,
) -> list[tuple[int, datetime]]:
    """(priority, time) of the next treatment's texts of priority under `below`, by priority.

    An estimate, by the same rules, as if the next treatment ended at the booked session and
    around the texts `taken` so far. It is off when the session runs late (a moved or cancelled
    session, or the next treatment itself, re-plans this course). It only keeps cap room free.
    """
    assert course.next_session_at is not None
    steps = tuple(
        replace(step, channels=("sms",))
        for step in protocol.steps
        if step.priority < below and "sms" in step.channels
    )
    after = Course(course.session_number + 1, course.sessions_planned)
    texts = plan(course.next_session_at, patient, replace(protocol, steps=steps), policy, after,
                 other_sms=taken, now=now)  # fmt: skip
    priorities = {step.key: step.priority for step in steps}
    return sorted((priorities[t.key], t.due_at) for t in texts if t.status == "planned")


def blocked(
    step: Step, channel: str, patient: PatientFacts, item: PlannedMessage, now: datetime | None
) -> str | None:
    """Why this step cannot go on this channel at all, or None."""
    assert item.valid_until is not None
    if not step.enabled:
        return "disabled by the clinic's protocol overrides"
    if channel not in patient.channels:
        return f"no consent or contact for {channel}"
    if now is not None and item.valid_until <= now:
        return "expired before it could be planned"
    if item.due_at > item.valid_until:
        return "no time inside the sending window before it expires"
    return None


def applies(step: Step, course: Course) -> bool:
    """Whether a step's condition holds for this course."""
    remaining = course.session_number < course.sessions_planned
    booked = course.next_session_at is not None
    return {
        "always": True,
        "sessions_remaining_unbooked": remaining and not booked,
        "next_session_booked": booked,
        "last_session": not remaining,
    }[step.when]


def inapplicable_reason(step: Step) -> str:
    """Why a step whose condition does not hold is not (or no longer) planned."""
    return {
        "sessions_remaining_unbooked": "next session booked or no sessions remain",
        "next_session_booked": "no next session booked",
        "last_session": "not the last session of the course",
    }.get(step.when, "step no longer applies")


def timing(
    step: Step, treatment_end: datetime, course: Course, zone: ZoneInfo, policy: ClinicPolicy
) -> tuple[datetime, datetime]:
    """When a step is due before the caps apply, and until when it is valid (both UTC).

    A step is never due before its wording is true (`not_before_hours` after the treatment
    ended). One held back by that waits for the window, and its validity counts from there:
    "makeup is OK" for an evening treatment comes the next evening or morning, not never.
    """
    target = target_time(step, treatment_end, course, zone)
    start, valid_from = max(target, treatment_end), target
    # Elapsed time: in UTC, since adding hours to a zoned datetime adds wall-clock hours.
    true_from = treatment_end.astimezone(UTC) + timedelta(hours=step.not_before_hours)
    if true_from > start:
        start = valid_from = into_window(true_from.astimezone(zone), policy).astimezone(UTC)
    valid_until = valid_from + timedelta(hours=step.valid_hours)
    if step.anchor == "next_session" and course.next_session_at is not None:
        valid_until = min(valid_until, course.next_session_at.astimezone(UTC))
    return into_window(start.astimezone(zone), policy).astimezone(UTC), valid_until


def target_time(step: Step, treatment_end: datetime, course: Course, zone: ZoneInfo) -> datetime:
    """The moment a step asks for, before the window and caps apply (UTC)."""
    anchor = treatment_end
    if step.anchor == "next_session":
        assert course.next_session_at is not None
        anchor = course.next_session_at
    if step.at is None:
        return (anchor + timedelta(days=step.days, hours=step.hours)).astimezone(UTC)
    local_day = anchor.astimezone(zone).date() + timedelta(days=step.days)
    return at_local(local_day, step.at, zone).astimezone(UTC)
