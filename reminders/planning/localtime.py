"""PURE: local wall-clock times made safe across DST, and the sending window."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Window(Protocol):
    """A daily local sending window: start up to (not including) end; equal means any time."""

    @property
    def window_start(self) -> time: ...

    @property
    def window_end(self) -> time: ...

    @property
    def any_time(self) -> bool: ...


def at_local(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """A wall-clock time on a local day; a time skipped by DST moves past the gap."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC).astimezone(zone)


def into_window(local: datetime, policy: Window) -> datetime:
    """Move a local time forward to the next moment inside the sending window."""
    if policy.any_time:
        return local
    zone = local.tzinfo
    assert isinstance(zone, ZoneInfo), "into_window needs a time in a ZoneInfo zone"
    for _ in range(3):  # a window start inside a DST gap may not exist on one day
        clock = local.time()
        if policy.window_start <= clock < policy.window_end:
            return local
        day = local.date() if clock < policy.window_start else local.date() + timedelta(days=1)
        local = at_local(day, policy.window_start, zone)
    return local


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone, or a clear error naming the field."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone: {name!r} is not an IANA time zone") from None
