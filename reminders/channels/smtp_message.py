"""PURE: build the MIME email for an Outgoing: multipart text + HTML with list headers."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr


def message_id_for(idempotency_key: str, sender: str) -> str:
    """A stable Message-ID: a resend of the same row carries the same id, so it can be deduped."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{digest}.reminder@{domain}>"


def sender_for(clinic_name: str, sender: str) -> str:
    """'Glow Clinic <aftercare@example.org>': the clinic's name on the configured address."""
    name, address = parseaddr(sender)
    return formataddr((clinic_name or name, address))


def build_email(
    *,
    idempotency_key: str,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    clinic_name: str,
    unsubscribe_url: str,
    now: datetime,
    reply_to: str = "",
) -> EmailMessage:
    """The email as sent: text part first, HTML alternative, one-click unsubscribe headers."""
    email = EmailMessage()
    email["From"] = sender_for(clinic_name, sender)
    email["To"] = to
    email["Subject"] = subject
    email["Date"] = format_datetime(now)
    email["Message-ID"] = message_id_for(idempotency_key, sender)
    if reply_to:
        # A patient who answers the email reaches the clinic, not an unread robot mailbox.
        email["Reply-To"] = formataddr((clinic_name, reply_to))
    # Reminders are automatic: ask auto-responders (out of office) not to answer.
    email["Auto-Submitted"] = "auto-generated"
    email["X-Auto-Response-Suppress"] = "All"
    if unsubscribe_url:
        email["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # Quoted-printable keeps accented Spanish 7-bit clean for any relay.
    email.set_content(text, cte="quoted-printable")
    if html:
        email.add_alternative(html, subtype="html", cte="quoted-printable")
    return email
