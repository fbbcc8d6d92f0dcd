"""Provider error texts reach operators with contact details masked."""

from __future__ import annotations

from reminders.redaction import redact


def test_phone_numbers_and_emails_inside_error_text_are_masked() -> None:
    text = "The 'To' number +15551234567 is not valid; bounce from ana.lopez@example.com"
    assert redact(text) == "The 'To' number +1•••••••567 is not valid; bounce from a•••@example.com"


def test_formatted_numbers_are_masked_and_error_codes_are_kept() -> None:
    assert redact("call +1 (555) 123-4567 now, code 21610") == "call +1•••••••567 now, code 21610"
    assert redact(None) is None


def test_a_provider_error_is_redacted_before_anyone_can_log_or_store_it() -> None:
    from reminders.channels.base import SendError

    error = SendError("permanent", "550 5.1.1 <zeb.quist@example.org>: User unknown", "550")
    assert "zeb.quist@example.org" not in str(error) and "z•••@example.org" in str(error)
    quoted = SendError("permanent", "The 'To' number +12025550187 is not valid", "21211")
    assert "+12025550187" not in str(quoted)


def test_the_console_prints_texts_only_when_asked_for() -> None:
    import io

    from reminders.channels.base import Outgoing
    from reminders.channels.console import ConsoleChannel

    outgoing = Outgoing(
        message_id=7, idempotency_key="k7", channel="sms", to="+12025550187",
        text="Zebulonia, skip makeup tonight.",
    )  # fmt: skip
    quiet, shown = io.StringIO(), io.StringIO()
    ConsoleChannel("sms", stream=quiet).send(outgoing)
    ConsoleChannel("sms", stream=shown, show_bodies=True).send(outgoing)
    assert (
        "Zebulonia" not in quiet.getvalue() and "REMINDERS_CONSOLE_SHOW_BODIES" in quiet.getvalue()
    )
    assert "message 7" in quiet.getvalue() and "+12025550187" not in quiet.getvalue()
    assert "Zebulonia, skip makeup tonight." in shown.getvalue()


def test_the_console_setting_is_off_unless_reminders_up_runs_on_the_embedded_defaults() -> None:
    from reminders.channels.registry import build_channels
    from reminders.config import load_settings

    quiet = build_channels(load_settings(console_show_bodies=False))["email"]
    shown = build_channels(load_settings(console_show_bodies=True))["email"]
    assert not quiet.show_bodies and shown.show_bodies  # type: ignore[attr-defined]
    assert load_settings(console_show_bodies=False).console_show_bodies is False


def test_a_failing_statement_never_quotes_its_bound_values(tmp_path) -> None:
    import pytest
    import sqlalchemy as sa

    from reminders.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with pytest.raises(sa.exc.DBAPIError) as caught, engine.connect() as connection:
        connection.execute(
            sa.text("INSERT INTO nowhere VALUES (:phone)"), {"phone": "+12025550187"}
        )
    assert "+12025550187" not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)


def test_smtp_status_codes_and_timestamps_stay_readable_while_numbers_are_masked() -> None:
    text = "550 5.1.1 <zeb@example.org>: unknown at 2026-12-07 10:00:00; call 612 345 678"
    assert redact(text) == (
        "550 5.1.1 <z•••@example.org>: unknown at 2026-12-07 10:00:00; call 61••••678"
    )
