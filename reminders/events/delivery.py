"""Post due events, at least once: claimed under a lease, retried with backoff, dead after N.

Each beat tick claims a batch with at most `per_clinic` rows of any clinic, oldest first, so
one clinic's backlog cannot crowd out the others. Each clinic's rows are posted in order by
one thread; its first failure ends that clinic's turn (its endpoint is likely down) and hands
the rest back unattempted, so a hanging endpoint costs one timeout per tick. Clinics whose
endpoint failed lately take their turn after the others, which carry on meanwhile.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from reminders.config import Settings
from reminders.events.posting import Poster
from reminders.models import CLINICS, EVENTS
from reminders.outbox.lifecycle import backoff

log = logging.getLogger(__name__)
E = EVENTS.c
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
RETRY, RELEASED = "retry", "released"


@dataclass(frozen=True)
class EventPolicy:
    """Lease, retries and batch shape of event posting."""

    lease: timedelta = timedelta(minutes=2)
    max_attempts: int = 8
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0
    batch: int = 100
    per_clinic: int = 10
    threads: int = 4
    budget: timedelta = timedelta(seconds=60)

    @classmethod
    def from_settings(cls, settings: Settings) -> EventPolicy:
        """The configured attempts and batch, the messages' backoff and lease."""
        lease = timedelta(seconds=settings.lease_seconds)
        return cls(
            lease=lease,
            max_attempts=settings.events_max_attempts,
            base_seconds=settings.retry_base_seconds,
            cap_seconds=settings.retry_cap_seconds,
            batch=settings.events_batch_size,
            per_clinic=settings.events_per_clinic,
            # Stop starting posts while a timeout still fits before the lease runs out.
            budget=min(timedelta(seconds=60), lease / 2),
        )


@dataclass(frozen=True)
class Job:
    """One claimed event and where it goes."""

    id: int
    clinic_id: str
    webhook_id: str
    payload: dict[str, Any]
    attempts: int
    url: str
    secret: str
    lease_until: datetime


def unclaimed(now: datetime) -> ColumnElement[bool]:
    """No poster holds the row, or its lease ran out."""
    return sa.or_(E.lease_until.is_(None), E.lease_until < now)


def due_ids(engine: Engine, now: datetime, policy: EventPolicy) -> list[int]:
    """Due rows, each clinic's oldest `per_clinic` at most, every clinic's first ones first."""
    rank = sa.func.row_number().over(partition_by=E.clinic_id, order_by=(E.next_attempt_at, E.id))
    ranked = (
        sa.select(E.id, E.next_attempt_at, rank.label("rank"))
        .where(E.status == PENDING, E.next_attempt_at <= now, unclaimed(now))
        .subquery()
    )
    query = (
        sa.select(ranked.c.id)
        .where(ranked.c.rank <= policy.per_clinic)
        .order_by(ranked.c.rank, ranked.c.next_attempt_at)
        .limit(policy.batch)
    )
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


def claim(engine: Engine, ids: Sequence[int], now: datetime, lease: timedelta) -> list[Job]:
    """Take a lease on these rows; those another poster took meanwhile are left out."""
    if not ids:
        return []
    with engine.begin() as connection:
        # One conditional UPDATE: of two posters racing, the second finds the lease taken.
        taken = connection.execute(
            sa.update(EVENTS)
            .where(E.id.in_(list(ids)), E.status == PENDING, unclaimed(now))
            .values(lease_until=now + lease)
            .returning(E.id)
        ).scalars()
        rows = connection.execute(
            sa.select(
                E.id,
                E.clinic_id,
                E.webhook_id,
                E.payload,
                E.attempts,
                CLINICS.c.events_url,
                CLINICS.c.events_secret,
                E.lease_until,
            )  # fmt: skip
            .join(CLINICS, CLINICS.c.id == E.clinic_id)
            .where(E.id.in_(list(taken)))
            .order_by(E.clinic_id, E.next_attempt_at, E.id)
        )
        return [Job(*row) for row in rows]


def deliver_due_events(
    engine: Engine,
    poster: Poster,
    clock: Callable[[], datetime],
    policy: EventPolicy = EventPolicy(),
    rng: random.Random | None = None,
) -> dict[str, int]:
    """Claim and post what is due (what beat runs); counts per outcome."""
    start = clock()
    jobs = claim(engine, due_ids(engine, start, policy), start, policy.lease)
    groups = [list(group) for _, group in groupby(jobs, key=lambda job: job.clinic_id)]
    # Clinics whose endpoint is failing go last: their turn likely ends in a timeout.
    failing = failing_clinics(engine)
    groups.sort(key=lambda group: group[0].clinic_id in failing)
    turn = ClinicTurn(engine, poster, clock, policy, rng or random.Random(), start + policy.budget)
    counts: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=policy.threads) as pool:
        for outcomes in pool.map(turn.run, groups):
            for outcome in outcomes:
                counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def failing_clinics(engine: Engine) -> frozenset[str]:
    """Clinics with an event waiting to be retried: their endpoint failed lately."""
    query = sa.select(E.clinic_id).where(E.status == PENDING, E.attempts > 0).distinct()
    with engine.connect() as connection:
        return frozenset(connection.execute(query).scalars())


@dataclass(frozen=True)
class ClinicTurn:
    """Posts one clinic's claimed rows in order until one fails or time is up."""

    engine: Engine
    poster: Poster
    clock: Callable[[], datetime]
    policy: EventPolicy
    rng: random.Random
    deadline: datetime

    def run(self, jobs: list[Job]) -> list[str]:
        """The outcome of each row: delivered, retry, dead, or released unattempted."""
        outcomes: list[str] = []
        for index, job in enumerate(jobs):
            if self.clock() > self.deadline:
                return outcomes + self.release(jobs[index:])
            problem = self.poster.post(job.url, job.secret, job.webhook_id, job.payload)
            outcomes.append(self.record(job, problem))
            if problem is not None:
                return outcomes + self.release(jobs[index + 1 :])
        return outcomes

    def record(self, job: Job, problem: str | None) -> str:
        """Write how the post went, while the lease is still this poster's."""
        now, attempts = self.clock(), job.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "lease_until": None}
        if problem is None:
            outcome = DELIVERED
            values.update(status=DELIVERED, delivered_at=now, next_attempt_at=None, last_error=None)
        elif attempts >= self.policy.max_attempts:
            outcome = DEAD
            values.update(status=DEAD, next_attempt_at=None, last_error=problem[:300])
            log.error("event %s for clinic %r dead after %s attempts: %s",
                      job.id, job.clinic_id, attempts, problem)  # fmt: skip
        else:
            outcome = RETRY
            delay = backoff(attempts, self.policy.base_seconds, self.policy.cap_seconds, self.rng)
            values.update(next_attempt_at=now + delay, last_error=problem[:300])
            log.warning("event %s for clinic %r failed, will retry: %s",
                        job.id, job.clinic_id, problem)  # fmt: skip
        with self.engine.begin() as connection:
            connection.execute(
                sa.update(EVENTS)
                .where(E.id == job.id, E.status == PENDING, E.lease_until == job.lease_until)
                .values(**values)
            )
        return outcome

    def release(self, jobs: Sequence[Job]) -> list[str]:
        """Give rows back unattempted: due again at the next tick."""
        with self.engine.begin() as connection:
            for job in jobs:
                connection.execute(
                    sa.update(EVENTS)
                    .where(E.id == job.id, E.status == PENDING, E.lease_until == job.lease_until)
                    .values(lease_until=None)
                )
        return [RELEASED] * len(jobs)
