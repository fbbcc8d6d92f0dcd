"""Every try at sending a message is kept: when, how it ended, what the provider said."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from reminders.channels.base import SendError
from reminders.models import ATTEMPTS
from reminders.outbox.claim import claim_due
from tests.fakes.channels import ScriptedChannel
from tests.opsclient import add_operator, login, make_client
from tests.outbox_helpers import deliverer, due_rows

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


def tries(engine: Engine, message_id: int) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        stmt = (
            select(ATTEMPTS.c.number, ATTEMPTS.c.at, ATTEMPTS.c.status, ATTEMPTS.c.provider_id,
                   ATTEMPTS.c.provider_code, ATTEMPTS.c.error)
            .where(ATTEMPTS.c.message_id == message_id)
            .order_by(ATTEMPTS.c.id)
        )  # fmt: skip
        return [tuple(r) for r in connection.execute(stmt)]


def test_a_failed_try_then_a_sent_one_are_both_kept_with_their_times(engine: Engine) -> None:
    [message_id] = due_rows(engine, now=NOW)
    busy = SendError("transient", "provider busy, try later", "20429")
    channel = ScriptedChannel("sms", [busy])
    deliverer(engine, channel, clock=lambda: NOW).deliver([message_id], "w1")
    later = NOW + timedelta(minutes=10)
    claimed = claim_due(engine, later, 10, "dispatcher", timedelta(minutes=2))
    deliverer(engine, channel, clock=lambda: later).deliver(claimed, "w2")
    first, second = tries(engine, message_id)
    assert first[:3] == (1, NOW, "pending") and first[4] == "20429"
    assert "provider busy" in str(first[5])
    assert second == (2, later, "sent", f"FAKE{message_id}", None, None)


def test_a_row_held_back_before_any_try_records_no_try(engine: Engine) -> None:
    # Caps of zero: the row is held back by the caps, never handed to the channel.
    [message_id] = due_rows(engine, now=NOW, caps=(0, 0))
    channel = ScriptedChannel("sms")
    deliverer(engine, channel, clock=lambda: NOW).deliver([message_id], "w1")
    assert channel.sent == [] and tries(engine, message_id) == []


def test_the_message_page_lists_its_tries(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    [message_id] = due_rows(engine, now=NOW)
    busy = SendError("transient", "provider busy, try later", "20429")
    deliverer(engine, ScriptedChannel("sms", [busy]), clock=lambda: NOW).deliver([message_id], "w1")
    add_operator(engine, "ada", "admin")
    with make_client(database_url, redis_url, key_prefix, tmp_path) as client:
        login(client, "ada")
        page = client.get(f"/ops/messages/{message_id}").text
    table = page.split('id="attempts"')[1].split("</table>")[0]
    assert "20429" in table and "provider busy" in table and "2026-03-10 12:00 UTC" in table
