"""Celery tasks: thin wrappers over the outbox. Only ids travel through the broker."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from kombu.exceptions import OperationalError
from sqlmodel import Session

from reminders.events.delivery import EventPolicy, deliver_due_events
from reminders.inbound.alert_outbox import AlertPolicy, deliver_due_alerts
from reminders.ops import retention, tally
from reminders.outbox.dispatch import EnqueueError
from reminders.outbox.dispatch import dispatch_due as dispatch
from reminders.outbox.recovery import reconcile_unknown as reconcile
from reminders.outbox.recovery import sweep_expired_leases
from reminders.planning.clinicreplan import PAUSED, JobRunner
from reminders.planning.replanjobs import runnable_job_ids
from workers.application import app
from workers.runtime import event_poster, runtime, utc_now

log = logging.getLogger(__name__)


@app.task(name="reminders.dispatch_due")
def dispatch_due() -> int:
    """Claim what is due now, in batches, and enqueue a send task per batch."""
    rt = runtime()
    return dispatch(
        rt.engine,
        enqueue_send,
        utc_now,
        rt.owner,
        rt.settings.dispatch_batch_size,
        timedelta(seconds=rt.settings.lease_seconds),
        observe_claim=rt.recorder.observe_claim,
    )


def enqueue_send(ids: Sequence[int]) -> None:
    """Put one send task for these ids on the broker."""
    try:
        send_message.delay(list(ids))
    except (OperationalError, OSError) as exc:
        raise EnqueueError(f"broker unavailable: {exc}") from exc


@app.task(name="reminders.send_message")
def send_message(message_ids: list[int]) -> dict[str, int]:
    """Send the given claimed outbox rows (one, or a batch) and record each outcome."""
    rt = runtime()
    report = rt.deliverer.deliver(message_ids, owner=rt.owner)
    return report.counts


@app.task(name="reminders.sweep_leases")
def sweep_leases() -> list[int]:
    """Return abandoned claims to pending; mark abandoned sends unknown."""
    returned, lost = sweep_expired_leases(runtime().engine, utc_now())
    return [returned, lost]


@app.task(name="reminders.reconcile_unknown")
def reconcile_unknown() -> dict[str, int]:
    """Resolve unknown rows by asking the provider; never a blind resend."""
    rt = runtime()
    return reconcile(
        rt.engine,
        rt.finders,
        utc_now(),
        grace=timedelta(seconds=rt.settings.reconcile_grace_seconds),
        lease=timedelta(seconds=rt.settings.lease_seconds),
        texts=rt.deliverer.possible_texts,
        platform=rt.deliverer.policy.sms_sender,
    )


@app.task(name="reminders.send_alerts")
def send_alerts() -> dict[str, int]:
    """Email the warning-sign alerts that are due: failed earlier, or abandoned by a crash."""
    rt = runtime()
    channel = rt.deliverer.channels.get("email")
    policy = AlertPolicy.from_settings(rt.settings)
    return deliver_due_alerts(rt.engine, channel, utc_now, policy, renderer=rt.renderer)


@app.task(name="reminders.post_events")
def post_events() -> dict[str, int]:
    """Post due events to clinics' own systems: signed, retried with backoff, dead after N."""
    rt = runtime()
    policy = EventPolicy.from_settings(rt.settings)
    return deliver_due_events(rt.engine, event_poster(), utc_now, policy)


# Below the tasks' soft time limit: a long re-plan gives its lease back and goes on in a new task.
REPLAN_BUDGET_SECONDS = 45.0


def replan_runner() -> JobRunner:
    """Runs clinic re-plan jobs in this worker's name."""
    rt = runtime()
    lease = timedelta(seconds=rt.settings.lease_seconds)
    return JobRunner(rt.engine, utc_now, rt.owner, rt.settings.replan_batch_size, lease)


@app.task(name="reminders.replan_clinic")
def replan_clinic(job_id: int) -> str:
    """Re-plan a clinic's open rows in batches; a long job continues in a new task."""
    outcome = replan_runner().run(job_id, REPLAN_BUDGET_SECONDS)
    if outcome == PAUSED:
        replan_clinic.delay(job_id)
    return outcome


@app.task(name="reminders.replan_jobs")
def replan_jobs() -> int:
    """Beat's safety net: a task for each queued job (its message may be lost) or crashed one."""
    rt = runtime()
    with Session(rt.engine) as session:
        ids = runnable_job_ids(session, utc_now())
    # Dropped if no worker takes it by the next tick, which sends another: none pile up.
    expires = rt.settings.sweep_interval_seconds * 2
    for job_id in ids:
        replan_clinic.apply_async((job_id,), expires=expires)
    return len(ids)


@app.task(name="reminders.fold_tally")
def fold_tally() -> int:
    """Count newly finished (or changed) messages in the tally the overview and metrics read."""
    rt = runtime()
    budget = rt.settings.retention_budget_seconds  # below the task time limit; next tick goes on
    return tally.fold_all(lambda: Session(rt.engine), utc_now(), budget=budget)


@app.task(name="reminders.retention")
def run_retention() -> dict[str, int]:
    """Move finished treatments' messages past their clinic's retention to history, a while."""
    rt = runtime()
    moved = treatments = 0
    steps = retention.run(
        lambda: Session(rt.engine),
        utc_now,
        "beat",
        budget=rt.settings.retention_budget_seconds,
    )
    for _, done in steps:
        moved, treatments = moved + done.moved, treatments + done.treatments
    if moved:
        log.info("retention: moved %d messages of %d treatments to history", moved, treatments)
    return {"moved": moved, "treatments": treatments}


@app.task(name="reminders.noop")
def noop(message_id: int) -> None:
    """Do nothing: bench/dispatch.py measures the one-task-per-message ceiling with it."""
