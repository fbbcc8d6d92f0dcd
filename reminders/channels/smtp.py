"""SMTP email channel: smtp:// (STARTTLS when offered) or smtps://, errors classified by phase."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.utils import parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from reminders.channels.base import Outgoing, SendError
from reminders.channels.smtp_message import build_email
from reminders.channels.smtp_session import (
    by_code,
    close,
    content_sent_so_far,
    is_loopback,
    transmit,
)
from reminders.outbox.lifecycle import AMBIGUOUS, PERMANENT, TRANSIENT

STARTTLS_MODES = ("auto", "required", "never")
AUTH_CODES = frozenset({530, 534, 535, 538})


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to submit email."""

    host: str
    port: int
    implicit_tls: bool = False
    username: str = ""
    password: str = ""
    starttls: str = "auto"
    timeout_seconds: float = 10.0
    sender: str = "Aftercare <aftercare@localhost>"

    @classmethod
    def from_url(cls, url: str, sender: str, timeout_seconds: float = 10.0) -> SmtpConfig:
        """smtp://user:pass@host:587[?starttls=auto|required|never] or smtps://host:465."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("REMINDERS_SMTP_URL must look like smtp://user:pass@host:587")
        starttls = parse_qs(parts.query).get("starttls", ["auto"])[-1]
        if starttls not in STARTTLS_MODES:
            raise ValueError(f"REMINDERS_SMTP_URL: starttls must be one of {STARTTLS_MODES}")
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 25),
            implicit_tls=implicit,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            starttls=starttls,
            timeout_seconds=timeout_seconds,
            sender=sender,
        )


class SmtpChannel:
    """Sends each email on its own connection, so it is safe to share between threads."""

    name = "email"

    def __init__(
        self,
        config: SmtpConfig,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config, self.clock = config, clock
        self.ssl_context = ssl_context or ssl.create_default_context()

    def send(self, outgoing: Outgoing) -> str:
        """Submit the email; return its Message-ID or raise a classified SendError."""
        email = build_email(
            idempotency_key=outgoing.idempotency_key,
            sender=self.config.sender,
            to=outgoing.to,
            subject=outgoing.subject,
            text=outgoing.text,
            html=outgoing.html,
            clinic_name=outgoing.clinic_name,
            unsubscribe_url=outgoing.unsubscribe_url,
            now=self.clock(),
            reply_to=outgoing.reply_to,
        )
        payload = email.as_bytes(policy=policy.SMTP)
        smtp = self.open()
        try:
            transmit(smtp, parseaddr(self.config.sender)[1], outgoing.to, payload)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise by_code(code, reply, "the recipient") from exc
        except smtplib.SMTPSenderRefused as exc:
            raise SendError(TRANSIENT, f"check the sender: {exc}", str(exc.smtp_code)) from exc
        except smtplib.SMTPResponseException as exc:
            raise by_code(exc.smtp_code, exc.smtp_error, "the message") from exc
        except UnicodeEncodeError as exc:
            raise SendError(PERMANENT, f"address needs SMTPUTF8: {exc}", "SMTPUTF8") from exc
        except OSError as exc:
            # SMTPServerDisconnected and timeouts land here. After the final dot the server
            # may have queued the message; before it, it cannot have.
            kind = AMBIGUOUS if content_sent_so_far(exc) else TRANSIENT
            raise SendError(kind, f"SMTP connection failed: {type(exc).__name__}: {exc}") from exc
        finally:
            close(smtp)
        return str(email["Message-ID"])

    def open(self) -> smtplib.SMTP:
        """Connect, secure and log in; connection-stage failures are transient."""
        config = self.config
        smtp: smtplib.SMTP | None = None
        try:
            if config.implicit_tls:
                smtp = smtplib.SMTP_SSL(
                    config.host,
                    config.port,
                    timeout=config.timeout_seconds,
                    context=self.ssl_context,
                )
            else:
                smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
            self.log_in(smtp, config.implicit_tls or self.secure(smtp))
            return smtp
        except SendError:
            close(smtp)
            raise
        except smtplib.SMTPResponseException as exc:
            close(smtp)
            hint = "check the SMTP credentials: " if exc.smtp_code in AUTH_CODES else ""
            raise SendError(TRANSIENT, f"{hint}{exc}", str(exc.smtp_code)) from exc
        except (OSError, ssl.SSLError) as exc:
            close(smtp)
            raise SendError(TRANSIENT, f"could not connect to SMTP: {exc}", None) from exc

    def log_in(self, smtp: smtplib.SMTP, secure: bool) -> None:
        """AUTH when the URL has a user; never a plain-text password off this machine."""
        if not self.config.username:
            return
        if not secure and not is_loopback(self.config.host):
            raise SendError(TRANSIENT, "refusing to send the SMTP password without TLS")
        smtp.login(self.config.username, self.config.password)

    def secure(self, smtp: smtplib.SMTP) -> bool:
        """STARTTLS when offered (or required); plain only for 'never' or a server without it."""
        smtp.ehlo()
        if self.config.starttls != "never" and smtp.has_extn("starttls"):
            smtp.starttls(context=self.ssl_context)
            smtp.ehlo()
            return True
        if self.config.starttls == "required":
            raise SendError(TRANSIENT, "the SMTP server does not offer STARTTLS")
        return False
