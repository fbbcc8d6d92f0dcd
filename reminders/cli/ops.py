"""Operator commands: `reminders status` and `reminders messages retry|cancel|resolve`."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

import redis
import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from reminders.cli import message_filter as f
from reminders.cli.message_filter import is_empty
from reminders.config import load_settings
from reminders.db import make_engine, require_migrated, session_scope
from reminders.ops import actions as operations
from reminders.ops import bulk, listing, overview
from reminders.ops.listing import MessageFilter
from reminders.ops.workerping import WorkerPing
from reminders.redis_link import find_redis_url

EXIT_OK, EXIT_ALERT = 0, 1
messages_app = typer.Typer(help="Act on outbox messages (recorded in the audit trail).")
console = Console()


def alerts(
    o: overview.Overview, max_lag: float, max_failures: int, unknown_waiting: int = 0
) -> list[str]:
    """Why a monitor should page someone, or [] when all is well."""
    found = []
    if unknown_waiting:
        found.append(
            f"{unknown_waiting} unknown message(s) wait for an operator: reconcile, then "
            "`reminders messages resolve ID` or resend"
        )
    if o.lag_seconds > max_lag:
        found.append(f"lag {o.lag_seconds:.0f} s is over {max_lag:.0f} s")
    if o.failures_last_day > max_failures:
        found.append(f"{o.failures_last_day} failures in 24 h is over {max_failures}")
    if any(depth is None for depth in o.queue_depths.values()):
        found.append("Redis is unreachable")
    if o.workers is not None and not o.workers:
        found.append("no worker answered the ping")
    if o.unsent_alerts:
        found.append(f"{o.unsent_alerts} warning-sign alerts to clinics are not sent")
    return found


def status(
    max_lag: Annotated[float, typer.Option(help="Alert when lag passes this many seconds.")] = 300,
    max_failures: Annotated[
        int, typer.Option(help="Alert when failed + dead in the last 24 h pass this.")
    ] = 10,
    workers: Annotated[bool, typer.Option(help="Ping Celery workers (alert if none).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The overview; exit 1 when lag, failures, Redis or workers need attention, else 0."""
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    require_migrated(engine)
    redis_url = find_redis_url(settings.redis_url, settings.var_dir)
    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    ping = WorkerPing(redis_url, settings.redis_key_prefix, timeout=1.0) if workers else None
    with Session(engine) as session:
        o = overview.build_overview(
            session, client, settings.redis_key_prefix, datetime.now(UTC), ping
        )
        waiting = listing.unresolved_count(session, "unknown")
    problems = alerts(o, max_lag, max_failures, waiting)
    if as_json:
        print(json.dumps({**asdict(o), "alerts": problems}, indent=2))
    else:
        show(o, problems)
    raise typer.Exit(EXIT_ALERT if problems else EXIT_OK)


def show(o: overview.Overview, problems: list[str]) -> None:
    """Print the overview as rich tables."""
    table = Table(title="reminders status")
    table.add_column("what")
    table.add_column("value", justify="right")
    for queue, depth in o.queue_depths.items():
        table.add_row(f"queue {queue}", "unreachable" if depth is None else str(depth))
    table.add_row("live workers", "not checked" if o.workers is None else str(len(o.workers)))
    table.add_row("due backlog", str(o.due_backlog))
    table.add_row("lag (s)", f"{o.lag_seconds:.0f}")
    for name, n in o.problems.items():
        table.add_row(name, str(n))
    table.add_row("unsent warning alerts", str(o.unsent_alerts))
    console.print(table)
    day = Table(title="last 24 hours")
    for column in ("channel", "sent", "delivered", "failed", "of the sent: console"):
        day.add_column(column)
    for c in o.last_day:
        printed = f"[yellow]{c.printed} printed, not sent[/yellow]" if c.printed else "0"
        day.add_row(c.channel, str(c.sent), str(c.delivered), str(c.failed), printed)
    console.print(day)
    for reason, n in o.top_failures:
        console.print(f"  {n} × {reason}")
    for problem in problems:
        console.print(f"[red]ALERT[/red] {problem}")


def _act(action: str, ids: list[int], actor: str, resend_unknown: bool = False) -> None:
    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    require_migrated(engine)
    refused = 0
    for message_id in ids:
        with session_scope(engine) as session:
            now = datetime.now(UTC)
            if action == "retry":
                result = operations.retry(session, message_id, actor, now, resend_unknown)
            elif action == "cancel":
                result = operations.cancel(session, message_id, actor, now)
            else:
                result = operations.resolve(session, message_id, actor, now)
        refused += not result.ok
        mark = "[green]ok[/green]" if result.ok else "[red]refused[/red]"
        console.print(f"message {message_id}: {mark} {result.detail}")
    raise typer.Exit(EXIT_ALERT if refused else EXIT_OK)


def act_on(
    action: str,
    ids: list[int] | None,
    wanted: MessageFilter,
    actor: str,
    dry_run: bool,
    resend_unknown: bool = False,
) -> None:
    """Act on the given ids, or on every message the filter matches (a dry run lists them)."""
    if ids and not is_empty(wanted):
        raise typer.BadParameter("give message ids or filter options, not both")
    if not ids and is_empty(wanted):
        raise typer.BadParameter("give message ids, or a filter such as --status dead --clinic X")
    if ids and not dry_run:
        _act(action, ids, actor, resend_unknown)
    engine = make_engine(load_settings().effective_database_url)
    require_migrated(engine)
    if ids:  # a dry run of explicit ids: they are what would be acted on
        matched = ids
    else:
        with Session(engine) as session:
            matched = bulk.matching_ids(session, wanted)
    if dry_run:
        console.print(f"dry run: would {action} {len(matched)} message(s): "
                      f"{', '.join(map(str, matched)) or '-'}")  # fmt: skip
        raise typer.Exit(EXIT_OK)
    if len(matched) >= bulk.MAX_ROWS:
        console.print(f"[yellow]the first {bulk.MAX_ROWS} only; run it again for the rest")
    _act(action, matched, actor, resend_unknown)


def default_actor() -> str:
    """$USER, else the login name."""
    return os.environ.get("USER") or getpass.getuser()


Actor = Annotated[str, typer.Option(help="Who is acting (audit trail); default $USER.")]
Ids = Annotated[list[int] | None, typer.Argument(help="Message ids (or use filter options).")]


@messages_app.command("retry")
def retry(
    ids: Ids = None,
    actor: Actor = "",
    resend_unknown: Annotated[
        bool,
        typer.Option(help="Also resend `unknown` messages the provider may already have."),
    ] = False,
    status: f.Status = "",
    clinic: f.ClinicOpt = "",
    channel: f.Channel = "",
    patient: f.PatientOpt = "",
    due_from: f.DueFrom = "",
    due_to: f.DueTo = "",
    dry_run: f.DryRun = False,
) -> None:
    """Queue failed or dead messages again now (by id or by filter); exit 1 if any was refused."""
    wanted = f.message_filter(status, clinic, channel, patient, due_from, due_to)
    act_on("retry", ids, wanted, actor or default_actor(), dry_run, resend_unknown)


@messages_app.command("cancel")
def cancel(
    ids: Ids = None,
    actor: Actor = "",
    status: f.Status = "",
    clinic: f.ClinicOpt = "",
    channel: f.Channel = "",
    patient: f.PatientOpt = "",
    due_from: f.DueFrom = "",
    due_to: f.DueTo = "",
    dry_run: f.DryRun = False,
) -> None:
    """Cancel messages not with the provider (pending, claimed, unknown, failed, dead)."""
    wanted = f.message_filter(status, clinic, channel, patient, due_from, due_to)
    act_on("cancel", ids, wanted, actor or default_actor(), dry_run)


@messages_app.command("resolve")
def resolve(
    ids: Annotated[list[int], typer.Argument(help="Message ids.")], actor: Actor = ""
) -> None:
    """Mark failed, dead or unknown messages resolved: they leave the problems list."""
    _act("resolve", ids, actor or default_actor())
