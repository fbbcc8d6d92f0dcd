"""Operator passwords: argon2id hashes (argon2-cffi), the length rule, constant-time checks."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
HASHER = PasswordHasher()


def password_problem(password: str) -> str:
    """The rule a password breaks ("" when none): too short, or so long it only costs hashing."""
    if len(password) < MIN_PASSWORD:
        return f"at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"at most {MAX_PASSWORD} characters"
    return ""


def hashed(password: str) -> str:
    """The argon2id hash to store."""
    return HASHER.hash(password)


def matches(stored: str, password: str) -> bool:
    """Whether the password is the stored hash's (never with no hash: unknown or SSO-only).

    With no hash a dummy one is checked, so the answer takes as long either way.
    """
    if not stored:
        _verify(_dummy_hash(), password[:MAX_PASSWORD])
        return False
    return _verify(stored, password[:MAX_PASSWORD])


def outdated(stored: str) -> bool:
    """Whether a stored hash was made with weaker parameters than today's."""
    return HASHER.check_needs_rehash(stored)


def _verify(stored: str, password: str) -> bool:
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return HASHER.hash("not the password of anyone")
