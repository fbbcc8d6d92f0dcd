"""Operator accounts: create, disable, change password or role, sign in; every change audited.

An admin sees and acts on every clinic; a staff account on its own clinic only. Passwords are
hashed with argon2id (passwords.py); a change of password, role or a disable bumps the account's
session generation, which ends every session signed before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from reminders.models import Clinic, OperatorAccount
from reminders.ops import audit, passwords
from reminders.ops.passwords import MAX_PASSWORD

ADMIN, STAFF = "admin", "staff"
ROLES = (ADMIN, STAFF)
USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")


class AccountError(ValueError):
    """A refused account change; the message names the field and the rule."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field, self.rule = field, rule


@dataclass(frozen=True)
class SignIn:
    """What a login attempt came to: the account when it may sign in, else why not."""

    account: OperatorAccount | None
    problem: str = ""


def clinic_scope(account: OperatorAccount) -> frozenset[str] | None:
    """The clinics an account may see and act on; None means every clinic."""
    if account.role == ADMIN:
        return None
    return frozenset({account.clinic_id}) if account.clinic_id else frozenset()


def actor_of(username: str) -> str:
    """How a dashboard operator is named in the audit trail."""
    return f"op:{username}"


def normal_username(username: str) -> str:
    """The stored form of a username: trimmed and lower case."""
    return username.strip().lower()


def check_username(username: str) -> str:
    """The normal username, or AccountError naming the rule."""
    name = normal_username(username)
    if not USERNAME.fullmatch(name):
        raise AccountError(
            "username",
            "1-64 characters: letters, digits and . _ @ -, starting with one of the first two",
        )
    return name


def check_password(password: str) -> None:
    """AccountError naming the rule when the password breaks one."""
    problem = passwords.password_problem(password)
    if problem:
        raise AccountError("password", problem)


def check_role(session: Session, role: str, clinic_id: str | None) -> str | None:
    """The clinic the role needs (staff: an existing clinic; admin: none), or AccountError."""
    if role not in ROLES:
        raise AccountError("role", "one of " + ", ".join(ROLES))
    if role == ADMIN:
        if clinic_id:
            raise AccountError("clinic", "an admin sees every clinic: give no clinic")
        return None
    if not clinic_id:
        raise AccountError("clinic", "a staff account needs the clinic it works for")
    if session.get(Clinic, clinic_id) is None:
        raise AccountError("clinic", f"no clinic {clinic_id!r} (see `reminders clinics list`)")
    return clinic_id


def find(session: Session, username: str) -> OperatorAccount | None:
    """The account of that username, disabled or not."""
    stmt = select(OperatorAccount).where(col(OperatorAccount.username) == normal_username(username))
    return session.exec(stmt).first()


def existing(session: Session, username: str) -> OperatorAccount:
    """The account of that username, or AccountError."""
    account = find(session, username)
    if account is None:
        raise AccountError("username", f"no operator account {normal_username(username)!r}")
    return account


def listed(session: Session) -> list[OperatorAccount]:
    """Every account, by username."""
    return list(session.exec(select(OperatorAccount).order_by(col(OperatorAccount.username))))


def create(
    session: Session,
    username: str,
    password: str | None,
    role: str,
    clinic_id: str | None,
    actor: str,
    now: datetime,
) -> OperatorAccount:
    """Add an account; AccountError when any rule fails (nothing added).

    With password None the account has none and signs in only through the SSO proxy.
    """
    name = check_username(username)
    if find(session, name) is not None:
        raise AccountError("username", f"{name!r} is taken")
    if password is not None:
        check_password(password)
    clinic = check_role(session, role, clinic_id)
    account = OperatorAccount(
        username=name,
        password_hash=passwords.hashed(password) if password is not None else "",
        role=role,
        clinic_id=clinic,
        created_at=now,
        password_changed_at=now if password is not None else None,
    )
    session.add(account)
    session.flush()
    _audit(session, account, actor, "operator create", {}, _shown(account), now)
    return account


def disable(session: Session, username: str, actor: str, now: datetime) -> OperatorAccount:
    """Refuse the account's logins from now on and end its sessions."""
    account = existing(session, username)
    if account.disabled_at is not None:
        raise AccountError("username", f"{account.username!r} is already disabled")
    before = _shown(account)
    account.disabled_at = now
    _changed(session, account, actor, "operator disable", before, now)
    return account


def enable(session: Session, username: str, actor: str, now: datetime) -> OperatorAccount:
    """Let a disabled account sign in again."""
    account = existing(session, username)
    if account.disabled_at is None:
        raise AccountError("username", f"{account.username!r} is not disabled")
    before = _shown(account)
    account.disabled_at = None
    _changed(session, account, actor, "operator enable", before, now)
    return account


def change_password(
    session: Session, username: str, password: str, actor: str, now: datetime
) -> OperatorAccount:
    """Set a new password; the account's other sessions end."""
    account = existing(session, username)
    check_password(password)
    before = _shown(account)
    account.password_hash = passwords.hashed(password)
    account.password_changed_at = now
    _changed(session, account, actor, "operator password", before, now)
    return account


def change_role(
    session: Session, username: str, role: str, clinic_id: str | None, actor: str, now: datetime
) -> OperatorAccount:
    """Make the account an admin, or staff of one clinic; its sessions end."""
    account = existing(session, username)
    clinic = check_role(session, role, clinic_id)
    if (account.role, account.clinic_id) == (role, clinic):
        raise AccountError("role", f"{account.username!r} is already {_role_text(role, clinic)}")
    before = _shown(account)
    account.role, account.clinic_id = role, clinic
    _changed(session, account, actor, "operator role", before, now)
    return account


def sign_in(session: Session, username: str, password: str) -> SignIn:
    """Check a login; hashes as long for an unknown name, so timing does not reveal accounts."""
    account = find(session, username) if len(password) <= MAX_PASSWORD else None
    stored = account.password_hash if account is not None else ""
    if not passwords.matches(stored, password) or account is None:
        return SignIn(None, "unknown account" if account is None else "wrong password")
    if account.disabled_at is not None:
        return SignIn(None, "account disabled")
    if passwords.outdated(stored):  # argon2 parameters raised since it was hashed
        account.password_hash = passwords.hashed(password)
    return SignIn(account)


def _role_text(role: str, clinic_id: str | None) -> str:
    return f"staff of {clinic_id}" if role == STAFF else role


def _shown(account: OperatorAccount) -> dict[str, Any]:
    return {
        "role": account.role,
        "clinic_id": account.clinic_id,
        "disabled_at": account.disabled_at,
        "password_hash": account.password_hash,
    }


def _changed(
    session: Session,
    account: OperatorAccount,
    actor: str,
    action: str,
    before: dict[str, Any],
    now: datetime,
) -> None:
    account.session_generation += 1
    session.add(account)
    shown_before, shown_after = audit.changed_only(before, _shown(account))
    _audit(session, account, actor, action, shown_before, shown_after, now)


def _audit(
    session: Session,
    account: OperatorAccount,
    actor: str,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any],
    now: datetime,
) -> None:
    audit.record(
        session,
        actor,
        action,
        clinic_id=account.clinic_id,
        target=f"operator:{account.username}",
        detail=f"{account.username} ({_role_text(account.role, account.clinic_id)})",
        before=before,
        after=after,
        now=now,
    )
