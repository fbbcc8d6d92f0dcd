"""PURE: the SMS caps (per local day and per rolling 7 days) over one patient's texts."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

WEEK = timedelta(days=7)


class SmsLedger:
    """The SMS times already promised to one patient; says whether one more fits the caps."""

    def __init__(
        self, per_day: int, per_week: int, zone: ZoneInfo, taken: Iterable[datetime] = ()
    ) -> None:
        self.per_day, self.per_week, self.zone = per_day, per_week, zone
        self.times: list[datetime] = sorted(taken)

    def fits(self, moment: datetime) -> bool:
        """Whether one more SMS at `moment` keeps both caps."""
        if self.per_day < 1 or self.per_week < 1:
            return False
        day = moment.astimezone(self.zone).date()
        same_day = sum(1 for when in self.times if when.astimezone(self.zone).date() == day)
        if same_day >= self.per_day:
            return False
        # Any per_week + 1 consecutive texts must span at least 7 days.
        times = sorted([*self.times, moment])
        low, high = bisect_left(times, moment), bisect_right(times, moment) - 1
        cap = self.per_week
        for first in range(max(0, low - cap), min(high, len(times) - cap - 1) + 1):
            if times[first + cap] - times[first] < WEEK:
                return False
        return True

    def take(self, moment: datetime) -> None:
        """Record an SMS at `moment`."""
        insort(self.times, moment)


def within_caps(times: Iterable[datetime], per_day: int, per_week: int, zone: ZoneInfo) -> bool:
    """Whether a set of SMS times keeps both caps (used by tests and checks)."""
    ordered = sorted(times)
    days = [when.astimezone(zone).date() for when in ordered]
    if any(days.count(day) > per_day for day in set(days)):
        return False
    return all(ordered[i + per_week] - ordered[i] >= WEEK for i in range(len(ordered) - per_week))
