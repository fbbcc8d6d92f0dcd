"""Recovering lost work: expired leases and reconciliation of unknown sends."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine

from reminders.channels.senders import NO_PLATFORM
from reminders.channels.twilio import ProviderMessage
from reminders.db import session_scope
from reminders.models import CLINICS, MESSAGES
from reminders.outbox.claim import start_sending
from reminders.outbox.recovery import (
    CANNOT_TELL,
    FOUND,
    NOT_FOUND,
    Finding,
    LookupFinder,
    SentQuery,
    reconcile_unknown,
    sweep_expired_leases,
)
from tests.fakes.channels import FixedFinder
from tests.outbox_helpers import due_rows, row

LEASE = timedelta(minutes=2)
HOUR = timedelta(hours=1)


def test_an_expired_claim_goes_back_to_pending_without_an_attempt(engine: Engine) -> None:
    [message_id] = due_rows(engine)
    returned, lost = sweep_expired_leases(engine, datetime.now(UTC) + timedelta(minutes=3))
    stored = row(engine, message_id)
    assert (returned, lost) == (1, 0)
    assert stored.status == "pending" and stored.attempts == 0 and stored.lease_owner is None


def test_a_live_claim_is_left_alone(engine: Engine) -> None:
    [message_id] = due_rows(engine)
    assert sweep_expired_leases(engine, datetime.now(UTC)) == (0, 0)
    assert row(engine, message_id).status == "claimed"


def test_an_expired_send_becomes_unknown_never_pending(engine: Engine) -> None:
    [message_id] = due_rows(engine)
    with session_scope(engine) as session:
        start_sending(session, [message_id], "w1", datetime.now(UTC), LEASE, max_attempts=6)
    sweep_expired_leases(engine, datetime.now(UTC) + timedelta(minutes=3))
    assert row(engine, message_id).status == "unknown"


def make_unknown(engine: Engine, age: timedelta) -> int:
    [message_id] = due_rows(engine)
    then = datetime.now(UTC) - age
    with engine.begin() as connection:
        connection.execute(
            update(MESSAGES).values(status="unknown", updated_at=then, lease_expires_at=then)
        )
    return message_id


def test_an_unknown_send_the_provider_has_becomes_sent_without_a_resend(engine: Engine) -> None:
    message_id = make_unknown(engine, timedelta(minutes=5))
    finder = FixedFinder(Finding(FOUND, "SM123"))
    counts = reconcile_unknown(
        engine, {"sms": finder}, datetime.now(UTC), grace=timedelta(seconds=60), lease=LEASE
    )
    stored = row(engine, message_id)
    assert counts[FOUND] == 1
    assert stored.status == "sent" and stored.provider_id == "SM123"
    assert finder.queries[0].to == "+15555550123"
    assert finder.queries[0].since < datetime.now(UTC) - timedelta(minutes=5)


def test_an_unknown_send_the_provider_never_got_goes_back_to_pending(engine: Engine) -> None:
    message_id = make_unknown(engine, timedelta(minutes=5))
    reconcile_unknown(
        engine,
        {"sms": FixedFinder(Finding(NOT_FOUND))},
        datetime.now(UTC),
        grace=timedelta(seconds=60),
        lease=LEASE,
    )
    stored = row(engine, message_id)
    assert stored.status == "pending" and "never received" in stored.reason


def test_reconciliation_waits_for_status_callbacks_during_the_grace_period(
    engine: Engine,
) -> None:
    message_id = make_unknown(engine, timedelta(seconds=5))
    finder = FixedFinder(Finding(NOT_FOUND))
    reconcile_unknown(
        engine, {"sms": finder}, datetime.now(UTC), grace=timedelta(seconds=60), lease=LEASE
    )
    assert finder.queries == [] and row(engine, message_id).status == "unknown"


def test_an_unknown_the_provider_cannot_settle_stays_for_an_operator(engine: Engine) -> None:
    message_id = make_unknown(engine, timedelta(minutes=5))
    counts = reconcile_unknown(
        engine,
        {"sms": FixedFinder(Finding(CANNOT_TELL))},
        datetime.now(UTC),
        grace=timedelta(seconds=60),
        lease=LEASE,
    )
    assert counts[CANNOT_TELL] == 1 and row(engine, message_id).status == "unknown"


class ListedChannel:
    """A channel whose provider holds the given messages for every query."""

    def __init__(self, *messages: ProviderMessage) -> None:
        self.messages = list(messages)

    def sent_to(
        self, to: str, since: datetime, until: datetime, exclude: Collection[str] = ()
    ) -> list[ProviderMessage]:
        return [m for m in self.messages if m.sid not in exclude]


def held(sid: str, body: str) -> ProviderMessage:
    """A message the provider has, created just now."""
    return ProviderMessage(sid, "delivered", "+15555550123", body, datetime.now(UTC), None)


def query(texts: frozenset[str] = frozenset()) -> SentQuery:
    """A reconciliation query for message 1 over the last ten minutes."""
    now = datetime.now(UTC)
    return SentQuery(1, "sms", "+15555550123", now - timedelta(minutes=10), now, texts=texts)


def test_the_provider_message_with_the_rows_text_is_credited_not_just_the_newest() -> None:
    channel = ListedChannel(held("SMnew", "day 2 text"), held("SMold", "day 1 text"))
    finding = LookupFinder(channel).find(query(frozenset({"day 1 text"})))
    assert finding == Finding(FOUND, "SMold")


def test_a_provider_message_with_another_text_is_not_credited_nor_resent() -> None:
    channel = ListedChannel(held("SMother", "another row's text"))
    assert LookupFinder(channel).find(query(frozenset({"day 1 text"}))).verdict == CANNOT_TELL


def test_no_provider_message_in_the_window_means_never_received() -> None:
    assert LookupFinder(ListedChannel()).find(query(frozenset({"day 1 text"}))).verdict == NOT_FOUND


def test_a_row_whose_text_cannot_be_rendered_again_is_left_for_an_operator() -> None:
    channel = ListedChannel(held("SMnew", "day 2 text"), held("SMold", "day 1 text"))
    assert LookupFinder(channel).find(query()).verdict == CANNOT_TELL


def test_unknown_email_rows_do_not_crowd_out_sms_rows_that_can_be_reconciled(
    engine: Engine,
) -> None:
    sms = make_unknown(engine, timedelta(minutes=5))
    with engine.begin() as connection:  # an older unknown email, which no provider can settle
        connection.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id != sms)
            .values(status="unknown", channel="email", updated_at=datetime.now(UTC) - HOUR)
        )
    finder = FixedFinder(Finding(FOUND, "SM9"))
    reconcile_unknown(
        engine,
        {"sms": finder},
        datetime.now(UTC),
        grace=timedelta(seconds=60),
        lease=LEASE,
        limit=1,
    )
    assert [q.message_id for q in finder.queries] == [sms]
    assert row(engine, sms).status == "sent"


def test_an_unknown_send_of_a_clinic_with_its_own_account_is_looked_up_there(
    engine: Engine,
) -> None:
    make_unknown(engine, timedelta(minutes=5))
    own = {"sms_from": "+34911000200", "twilio_account_sid": "AC" + "b" * 32,
           "twilio_auth_token": "clinic-token"}  # fmt: skip
    with engine.begin() as connection:
        connection.execute(update(CLINICS).values(**own))
    finder = FixedFinder(Finding(FOUND, "SM123"))
    reconcile_unknown(
        engine, {"sms": finder}, datetime.now(UTC), grace=timedelta(seconds=60), lease=LEASE
    )
    account = finder.queries[0].account
    assert account is not None and account.account_sid == "AC" + "b" * 32
    assert account.auth_token == "clinic-token"


def test_an_unknown_send_on_the_platform_account_names_no_account(engine: Engine) -> None:
    make_unknown(engine, timedelta(minutes=5))
    finder = FixedFinder(Finding(FOUND, "SM123"))
    reconcile_unknown(
        engine, {"sms": finder}, datetime.now(UTC), grace=timedelta(seconds=60), lease=LEASE
    )
    assert finder.queries[0].account is None


def test_an_unknown_send_whose_clinic_changed_sender_since_waits_for_an_operator(
    engine: Engine,
) -> None:
    message_id = make_unknown(engine, timedelta(minutes=5))
    with engine.begin() as connection:
        connection.execute(update(MESSAGES).values(sender=NO_PLATFORM.key))
        connection.execute(update(CLINICS).values(sms_from="+34911000200"))
    finder = FixedFinder(Finding(NOT_FOUND))
    counts = reconcile_unknown(
        engine, {"sms": finder}, datetime.now(UTC), grace=timedelta(seconds=60), lease=LEASE
    )
    assert counts[CANNOT_TELL] == 1 and finder.queries == []
    assert row(engine, message_id).status == "unknown"


def test_an_unknown_send_from_the_clinics_current_sender_is_looked_up(engine: Engine) -> None:
    make_unknown(engine, timedelta(minutes=5))
    with engine.begin() as connection:
        connection.execute(update(MESSAGES).values(sender="+34911000200"))
        connection.execute(update(CLINICS).values(sms_from="+34911000200"))
    finder = FixedFinder(Finding(NOT_FOUND))
    reconcile_unknown(
        engine, {"sms": finder}, datetime.now(UTC), grace=timedelta(seconds=60), lease=LEASE
    )
    assert len(finder.queries) == 1
