"""The numbers an operator looks at first: queues, workers, backlog, lag, last day, failures."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from sqlalchemy import func, select
from sqlmodel import Session

from reminders.channels.console import PROVIDER_PREFIX
from reminders.inbound.alert_outbox import UNSENT
from reminders.models import MESSAGES, REPLIES
from reminders.ops import tally
from reminders.ops.scope import ClinicIds, within
from reminders.outbox import lifecycle as lc
from reminders.redaction import redact

M = MESSAGES.c
QUEUES = ("reminders",)
PROBLEMS = (lc.FAILED, lc.DEAD, lc.UNKNOWN)
Ping = Callable[[], list[str]]


@dataclass(frozen=True)
class ChannelDay:
    """Sent, delivered and failed (failed + dead) in the last 24 hours on one channel; of the
    sent, how many the console channel printed instead of sending."""

    channel: str
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    printed: int = 0


@dataclass(frozen=True)
class Overview:
    """Plain values for the dashboard, the CLI and the metrics collector."""

    queue_depths: dict[str, int | None]
    workers: list[str] | None
    due_backlog: int
    lag_seconds: float
    last_day: list[ChannelDay]
    top_failures: list[tuple[str, int]]
    problems: dict[str, int] = field(default_factory=dict)
    unsent_alerts: int = 0

    @property
    def failures_last_day(self) -> int:
        """Failed and dead messages over the last 24 hours, all channels."""
        return sum(day.failed for day in self.last_day)


def queue_depths(
    client: redis.Redis, prefix: str, queues: Sequence[str] = QUEUES
) -> dict[str, int | None]:
    """Tasks waiting in each Celery queue (kombu keeps one Redis list per queue); None if down."""
    depths: dict[str, int | None] = {}
    for queue in queues:
        try:
            depths[queue] = int(client.llen(f"{prefix}{queue}"))
        except (redis.RedisError, OSError):
            depths[queue] = None
    return depths


def due_backlog(session: Session, now: datetime, clinic_ids: ClinicIds = None) -> int:
    """Pending rows whose time has come but nobody has claimed yet."""
    stmt = select(func.count()).where(
        M.status == lc.PENDING, M.next_attempt_at <= now, within(M.clinic_id, clinic_ids)
    )
    return int(session.execute(stmt).scalar_one())


def lag_seconds(session: Session, now: datetime, clinic_ids: ClinicIds = None) -> float:
    """How long the oldest overdue pending row has waited; 0 when nothing is overdue."""
    stmt = select(func.min(M.next_attempt_at)).where(
        M.status == lc.PENDING, M.next_attempt_at <= now, within(M.clinic_id, clinic_ids)
    )
    oldest = session.execute(stmt).scalar_one_or_none()
    if oldest is None:
        return 0.0
    return max(0.0, (now - oldest).total_seconds())


def last_day(session: Session, now: datetime, clinic_ids: ClinicIds = None) -> list[ChannelDay]:
    """Per channel: sent, delivered and failed over the 24 hours before now.

    Setting sent_at or delivered_at also sets updated_at, so each count walks the (status,
    updated_at) index over the last day's changes only, however long the table's history.
    """
    since = now - timedelta(hours=24)
    counts: dict[str, dict[str, int]] = {}
    # Every status: the IN list lets the planner seek the index once per status.
    recent = (M.status.in_(lc.STATUSES), M.updated_at >= since)
    queries = {
        "sent": select(M.channel, func.count()).where(*recent, M.sent_at >= since),
        "delivered": select(M.channel, func.count()).where(*recent, M.delivered_at >= since),
        "failed": select(M.channel, func.count()).where(
            M.status.in_((lc.FAILED, lc.DEAD)), M.updated_at >= since
        ),
        "printed": select(M.channel, func.count()).where(
            M.sent_at >= since, M.provider_id.startswith(PROVIDER_PREFIX, autoescape=True)
        ),
    }
    for name, stmt in queries.items():
        stmt = stmt.where(within(M.clinic_id, clinic_ids)).group_by(M.channel)
        for channel, count in session.execute(stmt).all():
            counts.setdefault(channel, {})[name] = int(count)
    return [ChannelDay(channel, **values) for channel, values in sorted(counts.items())]


def top_failures(
    session: Session, now: datetime, clinic_ids: ClinicIds = None, limit: int = 5
) -> list[tuple[str, int]]:
    """The commonest error texts among problem rows of the last 24 hours, most frequent first."""
    text = func.coalesce(M.last_error, M.reason, "(no reason recorded)")
    stmt = (
        select(text, func.count())
        .where(M.status.in_(PROBLEMS), M.updated_at >= now - timedelta(hours=24))
        .where(within(M.clinic_id, clinic_ids))
        .group_by(text)
        .order_by(func.count().desc(), text)
        .limit(limit)
    )
    rows = session.execute(stmt).all()
    return [(redact(str(reason)) or "", int(count)) for reason, count in rows]


def problem_counts(session: Session, clinic_ids: ClinicIds = None) -> dict[str, int]:
    """How many rows sit in each problem status (failed, dead, unknown), however old."""
    stmt = (
        select(M.status, func.count())
        .where(M.status.in_(PROBLEMS), within(M.clinic_id, clinic_ids))
        .group_by(M.status)
    )
    found = {status: int(count) for status, count in session.execute(stmt).all()}
    return {status: found.get(status, 0) for status in PROBLEMS}


# A warning-sign alert still unsent after this long has failed at least once: page someone.
ALERT_GRACE = timedelta(minutes=5)


def unsent_alerts(session: Session, now: datetime, clinic_ids: ClinicIds = None) -> int:
    """Warning-sign replies whose clinic alert is still unsent (retrying or given up)."""
    stmt = select(func.count()).where(
        UNSENT, REPLIES.c.received_at < now - ALERT_GRACE, within(REPLIES.c.clinic_id, clinic_ids)
    )
    return int(session.execute(stmt).scalar_one())


def status_counts(session: Session, clinic_ids: ClinicIds = None) -> dict[tuple[str, str], int]:
    """Rows by (status, channel), history included, from live rows and the tally."""
    return tally.counts(session, clinic_ids)


def build_overview(
    session: Session,
    client: redis.Redis,
    prefix: str,
    now: datetime,
    ping: Ping | None = None,
    clinic_ids: ClinicIds = None,
) -> Overview:
    """Everything on the overview page; `ping` lists live workers (skipped when None).

    The numbers about messages and alerts count those clinics only; queues and workers are
    shared by every clinic and show how the service itself is doing.
    """
    return Overview(
        queue_depths=queue_depths(client, prefix),
        workers=ping() if ping is not None else None,
        due_backlog=due_backlog(session, now, clinic_ids),
        lag_seconds=lag_seconds(session, now, clinic_ids),
        last_day=last_day(session, now, clinic_ids),
        top_failures=top_failures(session, now, clinic_ids),
        problems=problem_counts(session, clinic_ids),
        unsent_alerts=unsent_alerts(session, now, clinic_ids),
    )
