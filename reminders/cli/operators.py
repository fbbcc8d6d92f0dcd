"""`reminders operators ...`: named dashboard accounts, made and changed from the shell.

The password comes from REMINDERS_OPERATOR_PASSWORD or a hidden prompt, never the command line
(where `ps` and the shell history would keep it). Every change is audited as cli:<osuser>.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from reminders.config import load_settings
from reminders.db import make_engine, require_migrated, session_scope
from reminders.ops import accounts
from reminders.ops.audit import cli_actor

operators_app = typer.Typer(
    help="Dashboard operator accounts: add, list, disable, enable, passwd, role.",
    no_args_is_help=True,
)
console = Console()
PASSWORD_ENV = "REMINDERS_OPERATOR_PASSWORD"

Username = Annotated[str, typer.Argument(help="The account's username (lower case).")]
Role = Annotated[str, typer.Option(help="admin (every clinic) or staff (one clinic).")]
ClinicOption = Annotated[
    str, typer.Option("--clinic", help="The clinic a staff account works for.")
]


def read_password() -> str:
    """$REMINDERS_OPERATOR_PASSWORD, else a hidden prompt asked twice."""
    given = os.environ.get(PASSWORD_ENV)
    if given is not None:
        return given
    if not sys.stdin.isatty():
        fail(f"password: set {PASSWORD_ENV} or run in a terminal to be asked")
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


def fail(message: str) -> None:
    """One clear line on stderr, exit 1."""
    print(f"reminders: {message}", file=sys.stderr)
    raise typer.Exit(1)


def change(apply: Callable[[Session, datetime], Any], done: str) -> None:
    """Run one account change in a transaction; AccountError becomes one line and exit 1."""
    engine = make_engine(load_settings().effective_database_url)
    require_migrated(engine)
    try:
        with session_scope(engine) as session:
            apply(session, datetime.now(UTC))
    except accounts.AccountError as exc:
        fail(str(exc))
    console.print(done)


@operators_app.command("add")
def add(
    username: Username,
    role: Role = accounts.STAFF,
    clinic: ClinicOption = "",
    sso_only: Annotated[
        bool, typer.Option(help="No password: the account signs in only through the SSO proxy.")
    ] = False,
) -> None:
    """Add an account; its password from $REMINDERS_OPERATOR_PASSWORD or a prompt."""
    password = None if sso_only else read_password()
    change(
        lambda s, now: accounts.create(
            s, username, password, role, clinic or None, cli_actor(), now
        ),
        f"added operator {accounts.normal_username(username)} ({role})",
    )


@operators_app.command("list")
def list_command() -> None:
    """Every account: role, clinic, when made, disabled, password changed (never a hash)."""
    engine = make_engine(load_settings().effective_database_url)
    require_migrated(engine)
    with session_scope(engine) as session:
        found = accounts.listed(session)
        table = Table(title="operator accounts")
        for column in ("username", "role", "clinic", "created", "disabled", "password changed"):
            table.add_column(column)
        for a in found:
            table.add_row(
                a.username, a.role, a.clinic_id or "-", _when(a.created_at),
                _when(a.disabled_at), _when(a.password_changed_at),
            )  # fmt: skip
    console.print(table)


@operators_app.command("disable")
def disable(username: Username) -> None:
    """Refuse the account's logins and end its sessions now."""
    change(
        lambda s, now: accounts.disable(s, username, cli_actor(), now),
        f"disabled operator {accounts.normal_username(username)}; its sessions have ended",
    )


@operators_app.command("enable")
def enable(username: Username) -> None:
    """Let a disabled account log in again."""
    change(
        lambda s, now: accounts.enable(s, username, cli_actor(), now),
        f"enabled operator {accounts.normal_username(username)}",
    )


@operators_app.command("passwd")
def passwd(username: Username) -> None:
    """Set a new password (from $REMINDERS_OPERATOR_PASSWORD or a prompt); sessions end."""
    password = read_password()
    change(
        lambda s, now: accounts.change_password(s, username, password, cli_actor(), now),
        f"changed the password of {accounts.normal_username(username)}; its sessions have ended",
    )


@operators_app.command("role")
def role_command(username: Username, role: Role, clinic: ClinicOption = "") -> None:
    """Make an account an admin, or staff of one clinic; its sessions end."""
    change(
        lambda s, now: accounts.change_role(s, username, role, clinic or None, cli_actor(), now),
        f"{accounts.normal_username(username)} is now {role}" + (f" of {clinic}" if clinic else ""),
    )


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "-"
