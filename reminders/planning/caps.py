"""PURE: the SMS caps (per local day and per rolling 7 days) over one patient's texts."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from reminders.planning.localtime import Window, at_local, into_window

WEEK = timedelta(days=7)


class SmsLedger:
    """The SMS times already promised to one patient; says whether one more fits the caps."""

    def __init__(
        self, per_day: int, per_week: int, zone: ZoneInfo, taken: Iterable[datetime] = ()
    ) -> None:
        self.per_day, self.per_week, self.zone = per_day, per_week, zone
        self.times: list[datetime] = sorted(taken)
        # Room kept free for texts not planned yet: counted by `fits`, never in `times`.
        self.held: list[datetime] = []

    def fits(self, moment: datetime, held: bool = True) -> bool:
        """Whether one more SMS at `moment` keeps both caps (and, if `held`, the held room)."""
        if self.per_day < 1 or self.per_week < 1:
            return False
        others = [*self.times, *self.held] if held and self.held else self.times
        day = moment.astimezone(self.zone).date()
        same_day = sum(1 for when in others if when.astimezone(self.zone).date() == day)
        if same_day >= self.per_day:
            return False
        # Any per_week + 1 consecutive texts must span at least 7 days.
        times = sorted([*others, moment])
        low, high = bisect_left(times, moment), bisect_right(times, moment) - 1
        cap = self.per_week
        for first in range(max(0, low - cap), min(high, len(times) - cap - 1) + 1):
            if times[first + cap] - times[first] < WEEK:
                return False
        return True

    def take(self, moment: datetime) -> None:
        """Record an SMS at `moment`."""
        insort(self.times, moment)

    def hold(self, moment: datetime) -> None:
        """Keep room for an SMS expected at `moment` without recording it as promised."""
        self.held.append(moment)


def free_sms_slot(
    ledger: SmsLedger, due: datetime, valid_until: datetime, window: Window, held: bool = True
) -> datetime | None:
    """The first moment from `due`, day by day at the same local time, that the caps allow."""
    local = due.astimezone(ledger.zone)
    candidate = due
    for days in range(1, 400):
        if candidate > valid_until:
            return None
        if ledger.fits(candidate, held):
            return candidate
        moved = at_local(local.date() + timedelta(days=days), local.time(), ledger.zone)
        candidate = into_window(moved, window).astimezone(UTC)
    return None


def no_slot_reason(ledger: SmsLedger, due: datetime, valid_until: datetime, window: Window) -> str:
    """Why an SMS gets no slot: room held for the next treatment, or the caps alone."""
    if ledger.held and free_sms_slot(ledger, due, valid_until, window, held=False):
        return "SMS kept for the next treatment's first days; the caps leave no other free day"
    return (
        f"SMS caps ({ledger.per_day} a day, {ledger.per_week} a week) "
        "leave no free day before it expires"
    )


def within_caps(times: Iterable[datetime], per_day: int, per_week: int, zone: ZoneInfo) -> bool:
    """Whether a set of SMS times keeps both caps (used by tests and checks)."""
    ordered = sorted(times)
    days = [when.astimezone(zone).date() for when in ordered]
    if any(days.count(day) > per_day for day in set(days)):
        return False
    return all(ordered[i + per_week] - ordered[i] >= WEEK for i in range(len(ordered) - per_week))
