"""`reminders secrets`: make an encryption key, re-encrypt every stored secret with the first."""

from __future__ import annotations

import typer
from cryptography.fernet import Fernet
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, select

from reminders import secretbox
from reminders.config import load_settings
from reminders.db import make_engine, require_migrated, session_scope
from reminders.models import Clinic
from reminders.ops import audit

secrets_app = typer.Typer(help="Encryption of clinic secrets at rest.", no_args_is_help=True)
SECRET_FIELDS = ("webhook_secret", "previous_webhook_secret", "events_secret", "twilio_auth_token")


@secrets_app.command("new-key")
def new_key() -> None:
    """Print a new Fernet key for REMINDERS_ENCRYPTION_KEYS (put it first to rotate)."""
    print(Fernet.generate_key().decode())


@secrets_app.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt every clinic secret with the first key of REMINDERS_ENCRYPTION_KEYS."""
    settings = load_settings()
    secretbox.configure(settings)
    engine = make_engine(settings.effective_database_url)
    require_migrated(engine)
    with session_scope(engine) as session:
        count = reseal_all(session)
        audit.record(
            session, audit.cli_actor(), "secrets.rotate-key", target="clinic:*",
            detail=f"re-encrypted {count} secrets with the first key",
        )  # fmt: skip
    print(f"re-encrypted {count} secrets of every clinic with the first key; older keys may go")


def reseal_all(session: Session) -> int:
    """Mark every stored secret changed, so flushing writes it sealed with the first key."""
    count = 0
    for clinic in session.exec(select(Clinic)).all():
        for name in SECRET_FIELDS:
            if getattr(clinic, name):
                flag_modified(clinic, name)
                count += 1
    session.flush()
    return count
