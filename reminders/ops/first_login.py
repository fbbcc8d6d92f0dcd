"""The first dashboard login on embedded defaults: an admin with a random password, shown once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from reminders.ops import accounts

FIRST_USERNAME = "admin"
STARTUP_ACTOR = "cli:reminders-up"


@dataclass(frozen=True)
class FirstLogin:
    """How to log in: the account made just now (its password, shown once) or a hint."""

    username: str
    password: str
    hint: str


def first_admin(session: Session, now: datetime, embedded: bool) -> FirstLogin:
    """Make `admin` with a random password when no account exists and the database is local."""
    if accounts.listed(session):
        return FirstLogin(
            "",
            "",
            "log in with your operator account (`reminders operators list`; a forgotten "
            "password: `reminders operators passwd NAME`)",
        )
    if not embedded:
        # A shared database gets its first account from a person, not from whoever starts first.
        return FirstLogin(
            "",
            "",
            "no operator account yet: create one with `reminders operators add NAME --role admin`",
        )
    password = secrets.token_urlsafe(12)
    accounts.create(session, FIRST_USERNAME, password, "admin", None, STARTUP_ACTOR, now)
    return FirstLogin(FIRST_USERNAME, password, "")
