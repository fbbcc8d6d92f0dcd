"""Unguessable email unsubscribe links: an HMAC of the patient id under the service's key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from reminders.config import Settings
from reminders.intake.fields import row_id
from reminders.secretbox import make_private_dir

PATH = "/v1/unsubscribe/"


def token_for(patient_id: int, key: bytes) -> str:
    """'<patient id>.<mac>': only the service, holding the key, can make one."""
    return f"{patient_id}.{_mac(patient_id, key)}"


def patient_of(token: str, key: bytes) -> int | None:
    """The patient id a genuine token names, or None for anything forged or malformed."""
    head, _, mac = token.partition(".")
    patient_id = row_id(head)
    if patient_id is None or not mac:
        return None
    # Bytes: compare_digest raises on a str that is not ASCII.
    return patient_id if hmac.compare_digest(mac.encode(), _mac(patient_id, key).encode()) else None


def _mac(patient_id: int, key: bytes) -> str:
    digest = hmac.new(key, f"unsubscribe:{patient_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def link_key(settings: Settings) -> bytes:
    """REMINDERS_SECRET_KEY, or a random key made once under var/ and shared by local processes."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.var_dir / "secret_key"
    return _read_or_create(path).encode()


def _read_or_create(path: Path) -> str:
    make_private_dir(path.parent)
    try:
        # O_EXCL: when several processes start at once, exactly one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()
