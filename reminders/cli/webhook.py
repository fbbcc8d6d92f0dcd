"""`reminders webhook send`: sign an event with a clinic's secret and post it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer

from reminders.cli.webhook_sender import answer_text, event_parts, send_event
from reminders.config import load_settings
from reminders.intake.events import EVENT_TYPES

webhook_app = typer.Typer(help="Try the clinic webhook from the shell.", no_args_is_help=True)
SECRET_ENV = "REMINDERS_WEBHOOK_SECRET"


def fail(message: str) -> None:
    """One clear line on stderr, exit 1."""
    print(f"reminders: {message}", file=sys.stderr)
    raise typer.Exit(1)


@webhook_app.command("send")
def send(
    clinic: Annotated[str, typer.Option(help="Clinic id.")],
    data: Annotated[
        str,
        typer.Option(
            help='A JSON file (or - for stdin): the event\'s data, or its whole {"type", "data"} '
            "body."
        ),
    ],
    kind: Annotated[
        str | None,
        typer.Option("--type", help=f"One of {', '.join(EVENT_TYPES)}; not needed for a body."),
    ] = None,
    url: Annotated[str, typer.Option(help="API base URL.")] = "",
    webhook_id: Annotated[str | None, typer.Option(help="Reuse an id to test replays.")] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(help=f"A file holding the clinic's whsec_... secret (else ${SECRET_ENV})."),
    ] = None,
) -> None:
    """Sign an event with the clinic's secret, post it and print the answer."""
    # Never a command-line argument: those show in `ps` and in shell history.
    secret = read_secret(secret_file)
    try:
        raw = sys.stdin.read() if data == "-" else Path(data).read_text(encoding="utf-8")
        event_type, event_data = event_parts(json.loads(raw), kind)
    except OSError as exc:
        fail(f"--data: cannot read {data}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        fail(f"--data: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})")
    except ValueError as exc:
        fail(f"--data: {exc}")
    base = url or load_settings().public_url
    try:
        response = send_event(base, clinic, secret, event_type, event_data, webhook_id)
    except httpx.HTTPError as exc:
        fail(f"could not reach {base}: {exc}")
    print(f"HTTP {response.status_code}")
    print(answer_text(response))
    if response.status_code >= 300:
        raise typer.Exit(1)


def read_secret(secret_file: Path | None) -> str:
    """The signing secret from --secret-file, else from $REMINDERS_WEBHOOK_SECRET."""
    if secret_file is not None:
        try:
            secret = secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            fail(f"--secret-file: cannot read {secret_file}: {exc.strerror}")
    else:
        secret = os.environ.get(SECRET_ENV, "").strip()
    if not secret:
        fail(f"no secret: set {SECRET_ENV} or pass --secret-file FILE (never the secret itself)")
    return secret
