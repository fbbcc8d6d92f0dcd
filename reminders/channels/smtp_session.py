"""One SMTP transaction by hand, so a failure can be placed before or after the content."""

from __future__ import annotations

import ipaddress
import re
import smtplib

from reminders.channels.base import SendError
from reminders.outbox.lifecycle import PERMANENT, TRANSIENT


def transmit(smtp: smtplib.SMTP, sender: str, to: str, payload: bytes) -> None:
    """MAIL, RCPT, DATA by hand, so we know whether the content had been sent when it failed."""
    smtp.ehlo_or_helo_if_needed()
    code, reply = smtp.mail(sender)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = smtp.rcpt(to)
    if code not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({to: (code, reply)})
    code, reply = smtp.docmd("DATA")
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    if not payload.endswith(b"\r\n"):
        payload += b"\r\n"
    smtp.send(re.sub(rb"(?m)^\.", b"..", payload) + b".\r\n")
    try:
        code, reply = smtp.getreply()
    except OSError as exc:
        exc.add_note("content-sent")
        raise
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


def content_sent_so_far(exc: BaseException) -> bool:
    """True when transmit() marked the failure as after the final dot."""
    return "content-sent" in getattr(exc, "__notes__", ())


def by_code(code: int, reply: bytes | str, what: str) -> SendError:
    """4xx: try again later; 5xx: refused for good."""
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    kind = TRANSIENT if 400 <= code < 500 else PERMANENT
    return SendError(kind, f"SMTP {code} for {what}: {text}", str(code))


def close(smtp: smtplib.SMTP | None) -> None:
    """QUIT politely, then drop the socket whatever happens."""
    if smtp is None:
        return
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def is_loopback(host: str) -> bool:
    """localhost or a loopback IP: a plain-text password never leaves the machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
