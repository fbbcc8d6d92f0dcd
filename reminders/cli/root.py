"""The `reminders` command.

Importing this module reads no settings and imports no command module: each command imports
what it needs when it runs (see reminders/cli/lazy.py).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from reminders.cli.lazy import Lazy, LazyGroup
from reminders.errors import SetupError


class Commands(LazyGroup):
    """The commands that live in their own modules."""

    lazy = {
        "status": Lazy(
            "reminders.cli.ops:status",
            "The overview; exit 1 when lag, failures, Redis or workers need attention, else 0.",
        ),
        "preview": Lazy(
            "reminders.cli.preview:preview",
            "Print the timeline of prompts a treatment would get (pure: no database).",
        ),
        "import": Lazy(
            "reminders.cli.import_csv:import_csv",
            "Enroll a clinic's existing patients from CSV; exits 1 when any row was rejected.",
        ),
        "messages": Lazy(
            "reminders.cli.messages:messages_app",
            "Act on outbox messages (recorded in the audit trail).",
        ),
        "alerts": Lazy(
            "reminders.cli.alerts:alerts_app",
            "Warning-sign alerts to clinics that are not emailed yet.",
        ),
        "templates": Lazy("reminders.cli.clinic_checks:templates_app", "Message templates."),
        "clinics": Lazy(
            "reminders.cli.clinics:clinics_app",
            "Clinics: create, list, change settings, rotate secrets.",
        ),
        "events": Lazy(
            "reminders.cli.events:events_app",
            "Signed events to clinics' own systems: list, retry dead ones.",
        ),
        "operators": Lazy(
            "reminders.cli.operators:operators_app",
            "Dashboard operator accounts: add, list, disable, enable, passwd, role.",
        ),
        "audit": Lazy(
            "reminders.cli.audit:audit",
            "The audit trail, newest first: who changed what, when, before and after.",
        ),
        "retention": Lazy(
            "reminders.cli.history:retention_app",
            "Move finished treatments' messages to history.",
        ),
        "patients": Lazy(
            "reminders.cli.history:patients_app",
            "Patients: erase a patient's personal data on request.",
        ),
        "secrets": Lazy(
            "reminders.cli.secrets:secrets_app",
            "Encryption of clinic secrets at rest.",
        ),
        "webhook": Lazy(
            "reminders.cli.webhook:webhook_app", "Try the clinic webhook from the shell."
        ),
    }


app = typer.Typer(cls=Commands, help="Aftercare reminders for skin clinics.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema."""
    from reminders.config import load_settings
    from reminders.db import make_engine
    from reminders.migration import upgrade

    settings = load_settings()
    upgrade(make_engine(settings.effective_database_url))
    print("database is at the newest schema")


@app.command()
def api(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 0,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(help="Uvicorn worker processes.")] = 1,
) -> None:
    """Run the HTTP API alone (uvicorn)."""
    import uvicorn

    from reminders.config import SettingsError, load_settings, weak_secrets
    from reminders.db import make_engine, require_migrated
    from reminders.redis_link import find_redis_url

    settings = load_settings()
    weak = weak_secrets(settings)
    if weak:
        raise SettingsError("refusing to start the API: " + "; ".join(weak))
    require_migrated(make_engine(settings.effective_database_url))
    port = port or settings.api_port
    # The workers load their settings anew: this tells them the Redis found here.
    os.environ["REMINDERS_REDIS_URL"] = find_redis_url(settings.redis_url, settings.var_dir)
    uvicorn.run(
        "reminders.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=api_log_config(),
    )


def api_log_config() -> dict[str, object]:
    """Uvicorn's logging, plus the console channel's messages (clinic alerts) at INFO."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["reminders.console"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    return config


@app.command()
def up(port: Annotated[int, typer.Option(help="API port.")] = 0) -> None:
    """Migrate, then run the API, one worker and beat together until Ctrl-C."""
    from reminders.cli.supervisor import run_all
    from reminders.config import load_settings

    settings = load_settings()
    raise typer.Exit(run_all(settings, port or settings.api_port))


@app.command()
def enroll(
    first_name: Annotated[str, typer.Option(help="Demo patient's first name.")] = "Ana",
    tz: Annotated[str, typer.Option(help="Patient's IANA time zone.")] = "UTC",
    phone: Annotated[str, typer.Option(help="Phone (E.164, or national in the US).")] = (
        "+12025550123"
    ),
    email: Annotated[str, typer.Option(help="Email address.")] = "ana@example.com",
) -> None:
    """Enroll a demo patient whose treatment ended just now, and show their plan."""
    from rich.console import Console
    from rich.table import Table

    from reminders.cli.demo import OPTION_OF, enroll_demo
    from reminders.config import load_settings
    from reminders.db import make_engine, require_migrated
    from reminders.intake.events import InvalidEventError

    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    require_migrated(engine)
    now = datetime.now(UTC)
    try:  # validated exactly as the webhook validates a treatment.completed
        patient, messages, warnings = enroll_demo(engine, now, first_name, tz, phone, email)
    except InvalidEventError as exc:
        for problem in exc.problems:
            name = OPTION_OF.get(problem["field"], problem["field"])
            print(f"reminders: {name}: {problem['problem']}", file=sys.stderr)
        raise typer.Exit(2) from None
    table = Table(title=f"plan for demo patient {patient.external_id}")
    for column in ("local time", "step", "channel", "status"):
        table.add_column(column)
    for message in messages:
        local = message.due_at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")
        table.add_row(local, message.step_key, message.channel, message.status)
    console = Console()
    console.print(table)
    for warning in warnings:
        console.print(f"warning: {warning}")
    console.print("the worker sends what is due within a few seconds (run `make up`).")


@app.command()
def dispatch() -> None:
    """Claim what is due now and hand it to the workers (what beat does every few seconds)."""
    from datetime import timedelta

    from reminders.outbox.dispatch import dispatch_due
    from workers.runtime import runtime, utc_now
    from workers.tasks import enqueue_send

    rt = runtime()
    total = dispatch_due(
        rt.engine,
        enqueue_send,
        utc_now,
        f"cli:{rt.owner}",
        rt.settings.dispatch_batch_size,
        timedelta(seconds=rt.settings.lease_seconds),
    )
    print(f"handed {total} due messages to the workers")


def main() -> None:
    """Entry point: turn setup problems (settings, schema, Redis) into one clear line and exit 2."""
    try:
        app()
    except SetupError as exc:
        print(f"reminders: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
