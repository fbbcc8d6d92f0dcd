"""PURE: lay a patient's messages out on a time axis for the dashboard's SVG picture."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reminders.ops.listing import MessageRow
from reminders.outbox import lifecycle as lc

WIDTH, LEFT, RIGHT = 900, 70, 30
LANES = {"sms": 50, "email": 100}
HEIGHT = 150
MIN_TICK_GAP = 45
# What the picture says about each status: a legend word and a colour.
KINDS: dict[str, tuple[str, str]] = {
    lc.DELIVERED: ("delivered", "#1a7f37"),
    lc.SENT: ("sent", "#0969da"),
    lc.PENDING: ("upcoming", "#ffffff"),
    lc.CLAIMED: ("sending", "#bf8700"),
    lc.SENDING: ("sending", "#bf8700"),
    lc.SKIPPED: ("skipped", "#fb8500"),
    lc.CANCELLED: ("cancelled", "#8c959f"),
    lc.FAILED: ("problem", "#cf222e"),
    lc.DEAD: ("problem", "#cf222e"),
    lc.UNKNOWN: ("problem", "#cf222e"),
}


@dataclass(frozen=True)
class Mark:
    """One message as a dot: where, what colour, and the hover text."""

    x: float
    y: float
    kind: str
    colour: str
    title: str


@dataclass(frozen=True)
class Picture:
    """Everything the SVG template needs."""

    marks: list[Mark]
    now_x: float | None
    ticks: list[tuple[float, str]]
    width: int = WIDTH
    height: int = HEIGHT


def lay_out(rows: Sequence[MessageRow], now: datetime) -> Picture:
    """Dots by due time (x) and channel (lane); the past is left of the `now` line."""
    if not rows:
        return Picture(marks=[], now_x=None, ticks=[])
    start = min(min(r.due_at for r in rows), now)
    end = max(max(r.due_at for r in rows), now)
    span = max((end - start).total_seconds(), 1.0)

    def x_of(when: datetime) -> float:
        return round(LEFT + (WIDTH - LEFT - RIGHT) * (when - start).total_seconds() / span, 1)

    marks = []
    for row in rows:
        kind, colour = KINDS.get(row.status, ("other", "#57606a"))
        if row.status == lc.PENDING and row.due_at <= now:
            kind, colour = "overdue", "#ffd33d"
        why = f": {row.reason}" if row.reason and row.status != lc.SENT else ""
        title = f"{row.due_at:%Y-%m-%d %H:%M} UTC · {row.step_key} · {row.channel} · {row.status}"
        marks.append(Mark(x_of(row.due_at), LANES.get(row.channel, 125), kind, colour, title + why))
    ticks: list[tuple[float, str]] = []
    for row in _first_per_day(rows):
        x = x_of(row.due_at)
        if not ticks or x - ticks[-1][0] >= MIN_TICK_GAP:  # labels must not overprint
            ticks.append((x, f"{row.due_at:%b %d}"))
    return Picture(marks=marks, now_x=x_of(now), ticks=ticks)


def _first_per_day(rows: Sequence[MessageRow]) -> list[MessageRow]:
    seen: set[str] = set()
    firsts = []
    for row in sorted(rows, key=lambda r: r.due_at):
        day = f"{row.due_at:%Y-%m-%d}"
        if day not in seen:
            seen.add(day)
            firsts.append(row)
    return firsts
