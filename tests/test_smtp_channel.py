"""The SMTP email channel against a real aiosmtpd server on loopback."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reminders.channels.base import Outgoing, SendError
from reminders.channels.registry import build_channels
from reminders.channels.smtp import SmtpChannel, SmtpConfig
from reminders.channels.smtp_message import message_id_for
from reminders.config import Settings
from tests.fakes.smtp_server import SmtpServer, free_port, self_signed_certificate

SENDER = "Aftercare <aftercare@clinic.example>"


def email(key: str = "t9:day_3:email", to: str = "ana@example.com") -> Outgoing:
    return Outgoing(
        message_id=9,
        idempotency_key=key,
        channel="email",
        to=to,
        text="Hola Ana,\nprotección solar desde hoy.\n.\nGlow Clinic",
        subject="Día 3: protección solar",
        html="<p>Hola Ana,</p><p>protección solar desde hoy.</p>",
        clinic_name="Glow Clinic",
        unsubscribe_url="https://reminders.example.org/v1/unsubscribe/42",
        reply_to="front-desk@glow.example",
    )


def channel_for(url: str, context: ssl.SSLContext | None = None) -> SmtpChannel:
    config = SmtpConfig.from_url(url, SENDER, timeout_seconds=5)
    fixed = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    return SmtpChannel(config, ssl_context=context, clock=lambda: fixed)


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with SmtpServer() as running:
        yield running


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def send_error(channel: SmtpChannel, outgoing: Outgoing) -> SendError:
    with pytest.raises(SendError) as caught:
        channel.send(outgoing)
    return caught.value


def test_an_email_arrives_as_text_and_html_with_list_headers(server) -> None:
    provider_id = channel_for(f"smtp://127.0.0.1:{server.port}").send(email())
    [received] = server.handler.messages
    [envelope] = server.handler.envelopes
    assert envelope.mail_from == "aftercare@clinic.example"
    assert envelope.rcpt_tos == ["ana@example.com"]
    assert received["From"] == "Glow Clinic <aftercare@clinic.example>"
    assert received["Subject"] == "Día 3: protección solar"
    assert received["Reply-To"] == "Glow Clinic <front-desk@glow.example>"
    assert received["List-Unsubscribe"] == "<https://reminders.example.org/v1/unsubscribe/42>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["Message-ID"] == provider_id
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = received.get_body(("html",)).get_content()
    assert "protección solar desde hoy.\n.\nGlow Clinic" in text
    assert "<p>protección solar desde hoy.</p>" in html


def test_the_message_id_is_derived_from_the_idempotency_key(server) -> None:
    channel = channel_for(f"smtp://127.0.0.1:{server.port}")
    first, again = channel.send(email("t1:day_1:email")), channel.send(email("t1:day_1:email"))
    other = channel.send(email("t1:day_3:email"))
    assert first == again == message_id_for("t1:day_1:email", SENDER)
    assert other != first
    assert first.endswith("@clinic.example>")


@pytest.mark.parametrize("where", ["rcpt_reply", "data_reply"])
def test_a_4xx_answer_is_transient(server, where) -> None:
    setattr(server.handler, where, "451 4.3.0 Try again later")
    error = send_error(channel_for(f"smtp://127.0.0.1:{server.port}"), email())
    assert (error.kind, error.code) == ("transient", "451")


@pytest.mark.parametrize("where", ["rcpt_reply", "data_reply"])
def test_a_5xx_answer_is_permanent(server, where) -> None:
    setattr(server.handler, where, "550 5.1.1 No such mailbox")
    error = send_error(channel_for(f"smtp://127.0.0.1:{server.port}"), email())
    assert (error.kind, error.code) == ("permanent", "550")


def test_a_disconnect_after_the_content_was_sent_is_ambiguous(server) -> None:
    server.handler.drop_after_data = True
    error = send_error(channel_for(f"smtp://127.0.0.1:{server.port}"), email())
    assert error.kind == "ambiguous"
    assert len(server.handler.messages) == 1


def test_a_refused_connection_is_transient() -> None:
    error = send_error(channel_for(f"smtp://127.0.0.1:{free_port()}"), email())
    assert error.kind == "transient"


def test_a_server_that_never_answers_is_a_transient_error_after_the_timeout() -> None:
    # It accepts the connection (the kernel's backlog) but never greets: without the timeout
    # the send, and the worker's send thread with it, would wait forever.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        config = SmtpConfig.from_url(f"smtp://127.0.0.1:{port}", SENDER, timeout_seconds=0.3)
        outcome: list[SendError] = []
        sending = threading.Thread(
            target=lambda: outcome.append(send_error(SmtpChannel(config), email())), daemon=True
        )
        sending.start()
        sending.join(timeout=20)  # a bound for a hang, far above the 0.3 s under test
    assert not sending.is_alive(), "the send ignored its timeout"
    assert outcome[0].kind == "transient" and "timed out" in str(outcome[0])


def test_starttls_is_used_when_offered_and_the_url_credentials_log_in(certificate) -> None:
    with SmtpServer(starttls=certificate) as tls_server:
        url = f"smtp://clinic%40example.org:s3cret@127.0.0.1:{tls_server.port}?starttls=required"
        channel_for(url, trusting(certificate[0])).send(email())
        assert tls_server.handler.logins == ["clinic@example.org"]
        assert len(tls_server.handler.messages) == 1


def test_an_untrusted_certificate_is_a_transient_error_not_a_plain_text_send(certificate) -> None:
    with SmtpServer(starttls=certificate) as tls_server:
        error = send_error(channel_for(f"smtp://127.0.0.1:{tls_server.port}"), email())
        assert error.kind == "transient"
        assert tls_server.handler.messages == []


def test_required_starttls_refuses_a_server_without_it(server) -> None:
    url = f"smtp://127.0.0.1:{server.port}?starttls=required"
    error = send_error(channel_for(url), email())
    assert error.kind == "transient" and "STARTTLS" in str(error)
    assert server.handler.messages == []


def test_smtps_speaks_tls_from_the_first_byte(certificate) -> None:
    with SmtpServer(implicit_tls=certificate) as tls_server:
        url = f"smtps://clinic:s3cret@127.0.0.1:{tls_server.port}"
        channel_for(url, trusting(certificate[0])).send(email())
        assert tls_server.handler.logins == ["clinic"]


def test_a_wrong_password_is_a_transient_configuration_error(certificate) -> None:
    with SmtpServer(starttls=certificate) as tls_server:
        url = f"smtp://clinic:wrong@127.0.0.1:{tls_server.port}"
        error = send_error(channel_for(url, trusting(certificate[0])), email())
        assert (error.kind, error.code) == ("transient", "535")
        assert "credentials" in str(error)


@pytest.mark.parametrize("url", ["http://x", "smtp://", "smtp://h?starttls=maybe"])
def test_a_bad_smtp_url_names_the_setting(url) -> None:
    with pytest.raises(ValueError, match="REMINDERS_SMTP_URL"):
        SmtpConfig.from_url(url, SENDER)


def test_the_url_sets_ports_and_tls_defaults() -> None:
    assert SmtpConfig.from_url("smtp://h", SENDER).port == 25
    secure = SmtpConfig.from_url("smtps://u:p%2Fq@h", SENDER)
    assert (secure.port, secure.implicit_tls, secure.password) == (465, True, "p/q")


def test_registry_picks_smtp_when_a_url_is_set_and_the_console_otherwise() -> None:
    assert isinstance(
        build_channels(Settings(smtp_url="smtp://127.0.0.1:1025"))["email"], SmtpChannel
    )
    assert not isinstance(build_channels(Settings())["email"], SmtpChannel)


def test_a_plain_text_password_may_only_go_to_this_machine() -> None:
    from reminders.channels.smtp_session import is_loopback

    assert is_loopback("localhost") and is_loopback("127.0.0.1") and is_loopback("::1")
    assert not is_loopback("smtp.example.org") and not is_loopback("10.0.0.5")


def test_a_bad_smtp_url_stops_start_up_with_a_settings_error() -> None:
    from reminders.config import SettingsError

    with pytest.raises(SettingsError, match="REMINDERS_SMTP_URL"):
        build_channels(Settings(smtp_url="smtp:/nohost"))
