"""`reminders clinics replan ID` and `replan-status ID`: re-plan a clinic's open rows, watch it."""

from __future__ import annotations

import os
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from kombu.exceptions import OperationalError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.config import Settings, load_settings
from reminders.db import make_engine, require_migrated, session_scope
from reminders.errors import SetupError
from reminders.models import Clinic, ReplanJob
from reminders.ops.audit import cli_actor
from reminders.planning import clinicreplan
from reminders.planning import replanjobs as jobs
from reminders.redis_link import find_redis_url

console = Console(stderr=True)
FINAL = (jobs.DONE, jobs.FAILED)
# How long a watched job may stay queued before the watcher says how to get it going.
QUEUED_HINT_SECONDS = 20.0


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


def replan(
    clinic_id: str,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Print the job id and return.")
    ] = False,
    here: Annotated[
        bool, typer.Option("--here", help="Run it in this process, for when no worker runs.")
    ] = False,
) -> None:
    """Re-plan a clinic's pending messages for its current settings, with a progress bar."""
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    require_migrated(engine)
    with session_scope(engine) as session:
        if session.get(Clinic, clinic_id) is None:
            print(f"reminders: no clinic {clinic_id!r}", file=sys.stderr)
            raise typer.Exit(1)
        job, created = jobs.request_replan(
            session, clinic_id, cli_actor(), "requested from the command line", utc_now()
        )
    assert job.id is not None
    if not created:
        console.print(f"a re-plan of {clinic_id} was already queued: job {job.id}")
    if here:
        final = run_here(engine, settings, job.id)
    else:
        poke_worker(settings, job.id)
        if no_wait:
            print(job.id)
            return
        final = watch(engine, job.id)
    report(final)


def replan_status(
    clinic_id: str,
    watch_it: Annotated[
        bool, typer.Option("--watch", help="Follow the newest job with a progress bar.")
    ] = False,
) -> None:
    """The clinic's recent re-plan jobs: status, progress, who asked and when."""
    engine = make_engine(load_settings().effective_database_url)
    require_migrated(engine)
    with Session(engine) as session:
        found = jobs.latest_jobs(session, clinic_id)
    if watch_it and found and found[0].id is not None:
        report(watch(engine, found[0].id))
        return
    table = Table(title=f"re-plan jobs of {clinic_id}")
    for column in ("job", "status", "patients", "requested by", "reason", "queued", "finished"):
        table.add_column(column)
    for job in found:
        finished = f"{job.finished_at:%Y-%m-%d %H:%M:%S}" if job.finished_at else "-"
        table.add_row(
            str(job.id), job.status + (f" ({job.error})" if job.error else ""),
            f"{job.done}/{job.total}", job.requested_by, job.reason,
            f"{job.created_at:%Y-%m-%d %H:%M:%S}", finished,
        )  # fmt: skip
    Console().print(table if found else f"no re-plan jobs for {clinic_id}")


def run_here(engine: Engine, settings: Settings, job_id: int) -> clinicreplan.Progress:
    """Run the job in this process, batch by batch; watch instead if a worker has it."""
    owner = f"cli:{socket.gethostname()}:{os.getpid()}"
    with progress_bar() as (bar, task):
        runner = clinicreplan.JobRunner(
            engine, utc_now, owner, settings.replan_batch_size,
            timedelta(seconds=settings.lease_seconds), on_batch=lambda p: show(bar, task, p),
        )  # fmt: skip
        # A job of the clinic left running by a worker that died comes first: the new one
        # may start only after it.
        for earlier in jobs.lapsed_jobs(engine, job_id, utc_now()):
            runner.run(earlier)
        outcome = runner.run(job_id)
    if outcome in (clinicreplan.BUSY, clinicreplan.LOST):
        console.print("a worker is running this clinic's re-plan; watching it instead")
        return watch(engine, job_id)
    return current(engine, job_id)


def watch(engine: Engine, job_id: int, poll: float = 0.5) -> clinicreplan.Progress:
    """Follow the job until it is done or failed, with a progress bar."""
    started = time.monotonic()
    hinted = False
    with progress_bar() as (bar, task):
        while True:
            state = current(engine, job_id)
            show(bar, task, state)
            if state.status in FINAL:
                return state
            waited = time.monotonic() - started
            if state.status == jobs.QUEUED and not hinted and waited > QUEUED_HINT_SECONDS:
                bar.console.print(
                    "still queued: are a worker and beat running? (or run it here: "
                    "reminders clinics replan ID --here)"
                )
                hinted = True
            time.sleep(poll)


def current(engine: Engine, job_id: int) -> clinicreplan.Progress:
    """The job as stored now."""
    with Session(engine) as session:
        job = session.get(ReplanJob, job_id)
        assert job is not None
        return clinicreplan.progress_of(job)


class progress_bar:  # noqa: N801 (used as a context manager, like rich's own)
    """A rich progress bar on stderr with one task: 're-planning <n>/<total> patients'."""

    def __enter__(self) -> tuple[Progress, TaskID]:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        self.progress = Progress(*columns, console=console)
        self.progress.__enter__()
        return self.progress, self.progress.add_task("queued", total=None)

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)


def show(bar: Progress, task: TaskID, state: clinicreplan.Progress) -> None:
    """Move the bar to the job's progress."""
    total = max(state.total, state.done) if state.status != jobs.QUEUED else None
    bar.update(task, description=f"job {state.job_id} {state.status}", total=total,
               completed=state.done)  # fmt: skip


def report(final: clinicreplan.Progress) -> None:
    """One line for the outcome; exit 1 if the job failed."""
    if final.status == jobs.FAILED:
        print(f"reminders: re-plan job {final.job_id} failed: {final.error}", file=sys.stderr)
        raise typer.Exit(1)
    Console().print(f"re-plan job {final.job_id} {final.status}: {final.done} patients re-planned")


def poke_worker(settings: Settings, job_id: int) -> None:
    """Hand the job to a worker now; if no broker answers, beat starts it on its next tick."""
    try:
        find_redis_url(settings.redis_url, settings.var_dir)
        from workers.tasks import replan_clinic

        replan_clinic.delay(job_id)
    except (SetupError, OperationalError, OSError) as exc:
        console.print(f"could not hand job {job_id} to a worker now ({exc}); beat will start it")
