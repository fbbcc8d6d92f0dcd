"""Hypothesis cases for the planner: zones, DST nights, treatment times, clinic policies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from reminders.planning.localtime import at_local
from reminders.planning.planner import ClinicPolicy, Course, PatientFacts, PlannedMessage, plan
from reminders.planning.protocol import load_protocol

PROTOCOL = load_protocol()


ZONES = [
    "UTC",
    "America/New_York",
    "America/St_Johns",  # -03:30 with DST
    "America/Santiago",  # southern-hemisphere DST
    "Europe/Madrid",
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "Asia/Tehran",
    "Australia/Adelaide",  # +09:30 / +10:30
    "Australia/Eucla",  # +08:45
    "Australia/Lord_Howe",  # half-hour DST shift
    "Australia/Sydney",
    "Pacific/Chatham",  # +12:45 / +13:45
    "Pacific/Auckland",
    "Pacific/Kiritimati",  # +14
    "Pacific/Pago_Pago",  # -11
]


# DST changes in both hemispheres; treatments land within three days of them.
TRANSITIONS = [
    datetime(2026, 3, 8, 7, tzinfo=UTC),  # US spring forward
    datetime(2026, 11, 1, 6, tzinfo=UTC),  # US fall back
    datetime(2026, 3, 29, 1, tzinfo=UTC),  # EU spring forward
    datetime(2026, 10, 25, 1, tzinfo=UTC),  # EU fall back
    datetime(2026, 4, 4, 16, tzinfo=UTC),  # Australia / NZ / Chile end of DST
    datetime(2026, 10, 3, 16, tzinfo=UTC),  # Australia start of DST
    datetime(2026, 9, 26, 14, tzinfo=UTC),  # NZ / Chatham start of DST
    datetime(2026, 9, 6, 4, tzinfo=UTC),  # Chile start of DST
]


QUARTER_HOURS = st.integers(0, 95).map(lambda n: time(n // 4, n % 4 * 15))


@dataclass(frozen=True)
class Case:
    ended: datetime
    patient: PatientFacts
    policy: ClinicPolicy
    course: Course
    other_sms: tuple[datetime, ...]
    now: datetime | None


@st.composite
def policies(draw: st.DrawFn) -> ClinicPolicy:
    start, end = sorted((draw(QUARTER_HOURS), draw(QUARTER_HOURS)))
    if draw(st.booleans()):
        start, end = time(8), time(20)
    return ClinicPolicy(start, end, draw(st.integers(0, 2)), draw(st.integers(0, 4)))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    near_transition = draw(st.sampled_from(TRANSITIONS)) + timedelta(
        minutes=draw(st.integers(-72 * 60, 72 * 60))
    )
    anywhere = draw(
        st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC))
    )
    zone = draw(st.sampled_from(ZONES))
    # A local evening (17:00-23:59) near a DST change: when the window moves first-night advice.
    evening = at_local(
        near_transition.astimezone(ZoneInfo(zone)).date(),
        time(draw(st.integers(17, 23)), draw(st.integers(0, 59))),
        ZoneInfo(zone),
    ).astimezone(UTC)
    ended = draw(st.sampled_from([near_transition, anywhere, evening]))
    channels = draw(st.frozensets(st.sampled_from(["sms", "email"])))
    planned = draw(st.integers(1, 4))
    booked = draw(st.none() | st.integers(1, 60 * 24).map(lambda h: ended + timedelta(hours=h)))
    course = Course(draw(st.integers(1, planned)), planned, booked)
    others = draw(
        st.lists(
            st.integers(-10 * 24, 60 * 24).map(lambda h: ended + timedelta(hours=h)), max_size=4
        )
    )
    now = draw(st.none() | st.integers(-24, 10 * 24).map(lambda h: ended + timedelta(hours=h)))
    policy = draw(policies())
    return Case(ended, PatientFacts(zone, channels=channels), policy, course, tuple(others), now)


def run(case: Case) -> list[PlannedMessage]:
    return plan(
        case.ended,
        case.patient,
        PROTOCOL,
        case.policy,
        case.course,
        other_sms=case.other_sms,
        now=case.now,
    )


def sent(messages: list[PlannedMessage]) -> list[PlannedMessage]:
    return [m for m in messages if m.status == "planned"]
