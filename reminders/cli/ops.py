"""Operator commands: `reminders status` and `reminders messages retry|cancel ID...`."""

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

from reminders.config import load_settings
from reminders.db import make_engine, require_migrated, session_scope
from reminders.ops import actions as operations
from reminders.ops import overview
from reminders.ops.workerping import WorkerPing
from reminders.redis_link import find_redis_url

EXIT_OK, EXIT_ALERT = 0, 1
messages_app = typer.Typer(help="Act on outbox messages (recorded in the audit trail).")
console = Console()


def alerts(o: overview.Overview, max_lag: float, max_failures: int) -> list[str]:
    """Why a monitor should page someone, or [] when all is well."""
    found = []
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
    problems = alerts(o, max_lag, max_failures)
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
            else:
                result = operations.cancel(session, message_id, actor, now)
        refused += not result.ok
        mark = "[green]ok[/green]" if result.ok else "[red]refused[/red]"
        console.print(f"message {message_id}: {mark} {result.detail}")
    raise typer.Exit(EXIT_ALERT if refused else EXIT_OK)


def default_actor() -> str:
    """$USER, else the login name."""
    return os.environ.get("USER") or getpass.getuser()


Actor = Annotated[str, typer.Option(help="Who is acting (audit trail); default $USER.")]
Ids = Annotated[list[int], typer.Argument(help="Message ids.")]


@messages_app.command("retry")
def retry(
    ids: Ids,
    actor: Actor = "",
    resend_unknown: Annotated[
        bool,
        typer.Option(help="Also resend `unknown` messages the provider may already have."),
    ] = False,
) -> None:
    """Queue failed or dead messages again now; exit 1 if any was refused."""
    _act("retry", ids, actor or default_actor(), resend_unknown)


@messages_app.command("cancel")
def cancel(ids: Ids, actor: Actor = "") -> None:
    """Cancel messages not with the provider (pending, claimed, unknown, failed, dead)."""
    _act("cancel", ids, actor or default_actor())
