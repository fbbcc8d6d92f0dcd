"""Clinic secrets encrypted at rest: Fernet under REMINDERS_ENCRYPTION_KEYS (first encrypts).

A database dump alone then cannot sign a clinic's events or Twilio requests. On the embedded
defaults (SQLite) a key is made once under var/, owner-only; elsewhere the setting is required.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from reminders.config import Settings, SettingsError, load_settings
from reminders.errors import SetupError

KEY_FILE = "encryption_key"
_active: list[MultiFernet] = []  # the process's box; set by configure() or on first use


class UndecryptableSecretError(SetupError):
    """A stored secret none of the configured keys opens."""


def keys_for(settings: Settings) -> list[str]:
    """The configured keys, or (SQLite only) the one made once under var_dir."""
    keys = [key.strip() for key in settings.encryption_keys.split(",") if key.strip()]
    if keys:
        return keys
    if settings.effective_database_url.startswith("sqlite"):
        return [local_key(settings.var_dir / KEY_FILE)]
    raise SettingsError(
        "REMINDERS_ENCRYPTION_KEYS is not set: clinic secrets are encrypted at rest; generate "
        "a key with `reminders secrets new-key` and set it (comma-separate old keys after it)"
    )


def local_key(path: Path) -> str:
    """Read the key file, or create it owner-only (O_EXCL: one writer among racing processes)."""
    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(Fernet.generate_key().decode())
    return path.read_text().strip()


def make_private_dir(path: Path) -> None:
    """Create a directory readable by its owner only (and tighten one this service made)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)


def box_of(keys: list[str]) -> MultiFernet:
    """A MultiFernet over the keys; a malformed key is a setup error naming the setting."""
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError):
        raise SettingsError(
            "REMINDERS_ENCRYPTION_KEYS: each key must be 32 url-safe base64-encoded bytes "
            "(make one with `reminders secrets new-key`)"
        ) from None


def configure(settings: Settings) -> MultiFernet:
    """Use these settings' keys for every encrypted column in this process."""
    box = box_of(keys_for(settings))
    _active[:] = [box]
    return box


def current() -> MultiFernet:
    """The process's box, built from the environment's settings on first use."""
    if not _active:
        configure(load_settings())
    return _active[0]


def seal(plain: str) -> str:
    """Encrypt with the first key; "" (no secret) stays "" so emptiness stays queryable."""
    return current().encrypt(plain.encode()).decode() if plain else ""


def unseal(stored: str) -> str:
    """Decrypt with any configured key."""
    if not stored:
        return ""
    try:
        return current().decrypt(stored.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecretError(
            "a stored clinic secret cannot be decrypted: REMINDERS_ENCRYPTION_KEYS lacks the key "
            "it was encrypted with (keep old keys after the new one until "
            "`reminders secrets rotate-key` has run)"
        ) from None


class EncryptedText(TypeDecorator[str]):
    """A string column holding a Fernet token; the model sees the plain value."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else seal(str(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else unseal(str(value))


# A 200-character secret becomes a token of about 360 characters.
SEALED_LENGTH = 512
