"""SQLModel tables: clinics, patients, treatments, the message outbox and audit trails."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator
from sqlmodel import JSON, Column, Field, SQLModel

from reminders.outbox import lifecycle as lc
from reminders.secretbox import SEALED_LENGTH, EncryptedText


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def stored_utc(value: datetime) -> datetime:
    """An aware time as stored: naive UTC. A naive one is refused: its zone is unknown."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given where an aware one is required")
    return value.astimezone(UTC).replace(tzinfo=None)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, on SQLite and PostgreSQL alike."""

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else stored_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _when(nullable: bool = True, **kwargs: Any) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, **kwargs))


def _created() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _sealed() -> Any:
    return EncryptedText(SEALED_LENGTH)


class Clinic(SQLModel, table=True):
    """A clinic: who it is, how to reach it, its sending policy and webhook secrets."""

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    phone: str = Field(default="", max_length=32)
    email: str = Field(default="", max_length=320)
    booking_url: str = Field(default="", max_length=500)
    address: str = Field(default="", max_length=300)
    default_region: str = Field(default="US", max_length=2)
    locale: str = Field(default="en", max_length=16)
    window_start: time = Field(default=time(8, 0))
    window_end: time = Field(default=time(20, 0))
    sms_per_day: int = 1
    sms_per_week: int = 3
    protocol: str = Field(default="microneedling", max_length=64)
    protocol_overrides: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    # Secrets are Fernet tokens at rest (reminders/secretbox.py); the model sees plain values.
    webhook_secret: str = Field(default="", max_length=200, sa_type=_sealed())
    previous_webhook_secret: str = Field(default="", max_length=200, sa_type=_sealed())
    previous_secret_expires_at: datetime | None = _when()
    created_at: datetime = _created()
    # Where signed events go (see reminders/events); "" = nowhere. The secret signs them.
    events_url: str = Field(default="", max_length=500, sa_column_kwargs={"server_default": ""})
    events_secret: str = Field(
        default="", max_length=200, sa_type=_sealed(), sa_column_kwargs={"server_default": ""}
    )
    # The clinic's own Twilio sender (see channels/senders.py); all empty = the platform's.
    sms_from: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})
    sms_messaging_service_sid: str = Field(
        default="", max_length=34, sa_column_kwargs={"server_default": ""}
    )
    twilio_account_sid: str = Field(
        default="", max_length=34, sa_column_kwargs={"server_default": ""}
    )
    twilio_auth_token: str = Field(
        default="", max_length=200, sa_type=_sealed(), sa_column_kwargs={"server_default": ""}
    )
    # Days after a treatment's last message finished before its messages leave `message`.
    retention_days: int = Field(default=180, sa_column_kwargs={"server_default": "180"})


class Patient(SQLModel, table=True):
    """A patient of one clinic, with per-channel consent and opt-out state."""

    __table_args__ = (
        sa.UniqueConstraint("clinic_id", "external_id"),
        # The messages page's patient filter names an external id without a clinic.
        sa.Index("ix_patient_external_id", "external_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True, max_length=64)
    external_id: str = Field(max_length=128)
    first_name: str = Field(default="", max_length=100)
    phone: str | None = Field(default=None, max_length=32, index=True)
    email: str | None = Field(default=None, max_length=320)
    timezone: str = Field(default="UTC", max_length=64)
    locale: str = Field(default="en", max_length=16)
    consent_sms: bool = False
    consent_email: bool = False
    sms_opted_out_at: datetime | None = _when()
    email_opted_out_at: datetime | None = _when()
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Treatment(SQLModel, table=True):
    """One treatment session and where it sits in its course."""

    __table_args__ = (sa.UniqueConstraint("clinic_id", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", max_length=64)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    external_id: str = Field(max_length=128)
    ended_at: datetime = _when(nullable=False)
    area: str = Field(default="face", max_length=32)
    needle_depth_mm: float | None = None
    session_number: int = 1
    sessions_planned: int = 1
    next_session_at: datetime | None = _when()
    cancelled_at: datetime | None = _when()
    created_at: datetime = _created()
    updated_at: datetime = _created()


# Finished statuses: counted in `messagetally` (ops/tally.py) rather than row by row.
TALLIED = (lc.SENT, lc.DELIVERED, lc.CANCELLED, lc.SKIPPED)
# A row whose tally entry is missing or out of date (the partial index's predicate, verbatim).
UNTALLIED = (
    "coalesce(tally_status, '') <> status AND (status IN ("
    + ", ".join(f"'{s}'" for s in TALLIED)
    + ") OR tally_status IS NOT NULL)"
)
# Only the statuses of the state machine may be stored (migration 0005 adds it to old tables).
STATUS_CHECK = "status IN (" + ", ".join(f"'{status}'" for status in lc.Status) + ")"


class Message(SQLModel, table=True):
    """One outbox row: a prompt for one treatment step on one channel, and its life cycle."""

    __table_args__ = (
        # "What is due now" reads only pending rows in next_attempt_at order, so the index
        # stays as small as the backlog however many past or future rows the table holds.
        sa.Index(
            "ix_message_due",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        ),
        sa.Index(
            "ix_message_leased",
            "lease_expires_at",
            postgresql_where=sa.text("status IN ('claimed', 'sending')"),
            sqlite_where=sa.text("status IN ('claimed', 'sending')"),
        ),
        sa.Index("ix_message_status_updated", "status", "updated_at"),
        # Inbound routing: the latest text a patient got from a sender is one index seek.
        sa.Index("ix_message_patient_sender_sent", "patient_id", "sender", "sent_at"),
        sa.CheckConstraint(STATUS_CHECK, name="ck_message_status"),
        # Keyset pages (ops/listing.py): each filter walks its own index in due order.
        sa.Index("ix_message_due_id", "due_at", "id"),
        sa.Index("ix_message_clinic_due", "clinic_id", "due_at", "id"),
        sa.Index("ix_message_status_due", "status", "due_at", "id"),
        sa.Index("ix_message_patient_due", "patient_id", "due_at", "id"),
        # Rows the tally (ops/tally.py) does not yet count as they stand: few, however old.
        sa.Index(
            "ix_message_untallied",
            "id",
            postgresql_where=sa.text(UNTALLIED),
            sqlite_where=sa.text(UNTALLIED),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=200, unique=True)
    # Indexed by ix_message_clinic_due (clinic first), as patient_id by ix_message_patient_due.
    clinic_id: str = Field(foreign_key="clinic.id", max_length=64)
    patient_id: int = Field(foreign_key="patient.id")
    treatment_id: int = Field(foreign_key="treatment.id", index=True)
    step_key: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    status: str = Field(default=lc.PENDING.value, max_length=16)
    due_at: datetime = _when(nullable=False)
    valid_until: datetime | None = _when()
    next_attempt_at: datetime | None = _when()
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = _when()
    provider_id: str | None = Field(default=None, max_length=128)
    provider_code: str | None = Field(default=None, max_length=32)
    last_error: str | None = Field(default=None, max_length=1000)
    reason: str | None = Field(default=None, max_length=300)
    protocol_version: str = Field(default="", max_length=64)
    # SHA-256 of the SMS text, stored before the request: reconciliation matches it exactly.
    sent_digest: str | None = Field(default=None, max_length=64)
    sent_at: datetime | None = _when()
    delivered_at: datetime | None = _when()
    created_at: datetime = _created()
    updated_at: datetime = _created()
    # Which templates it was rendered from: "shipped:<digest>" or "clinic:<id> <name>@<v>,...".
    template_version: str = Field(
        default="", max_length=300, sa_column_kwargs={"server_default": ""}
    )
    # The sender's key (channels/senders.py) an SMS went out as, stored before the request.
    sender: str | None = Field(default=None, max_length=64)
    # The status and day under which ops/tally.py counts this row in `messagetally`, if any.
    tally_status: str | None = Field(default=None, max_length=16)
    tally_day: date | None = None


class WebhookReceipt(SQLModel, table=True):
    """A processed clinic webhook, so a replayed webhook-id returns the same answer."""

    __table_args__ = (sa.UniqueConstraint("clinic_id", "webhook_id"),)

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", max_length=64)
    webhook_id: str = Field(max_length=200)
    event_type: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    received_at: datetime = _created()


class InboundReply(SQLModel, table=True):
    """An SMS a patient sent us: STOP/START/HELP or free text kept for operators."""

    __table_args__ = (
        sa.Index(
            "ix_inboundreply_alert_due",
            "alert_due_at",
            postgresql_where=sa.text("alert_due_at IS NOT NULL"),
            sqlite_where=sa.text("alert_due_at IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str | None = Field(default=None, foreign_key="clinic.id", max_length=64)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    from_number: str = Field(max_length=32)
    body: str = Field(max_length=1600)
    kind: str = Field(max_length=16)
    provider_id: str | None = Field(default=None, max_length=128, unique=True)
    alerted_at: datetime | None = _when()
    received_at: datetime = _created()
    # A warning-sign alert to the clinic is pending while alert_due_at is set (see alert_outbox).
    alert_due_at: datetime | None = _when()
    alert_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    alert_lease_until: datetime | None = _when()
    alert_error: str | None = Field(default=None, max_length=300)
    # The key of our sender the text was sent to (its Messaging Service, else our number).
    sender: str | None = Field(default=None, max_length=64)


class AuditEntry(SQLModel, table=True):
    """Who changed what, when, and the values before and after (secrets masked: see ops.audit)."""

    __table_args__ = (sa.Index("ix_auditentry_clinic_at", "clinic_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=32)
    # A message's id, in `message` or, once retention moved it, `messagehistory` (same id).
    message_id: int | None = Field(default=None, index=True)
    # The clinic the change belongs to (None for platform-wide changes such as accounts).
    clinic_id: str | None = Field(default=None, max_length=64)
    # What was changed when it is not a message: "clinic:a", "template:a/sms/day_1.en", ...
    target: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    detail: str = Field(default="", max_length=1000)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    at: datetime = _created()


EVENT_STATUS_CHECK = "status IN ('pending', 'delivered', 'dead')"


class ClinicEvent(SQLModel, table=True):
    """A signed event for a clinic's own system: posted by beat, retried, dead after N tries."""

    __table_args__ = (
        # What beat posts next reads only pending rows, however many delivered ones are kept.
        sa.Index(
            "ix_clinicevent_due",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        ),
        sa.Index("ix_clinicevent_clinic_created", "clinic_id", "created_at"),
        sa.CheckConstraint(EVENT_STATUS_CHECK, name="ck_clinicevent_status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", max_length=64)
    event_type: str = Field(max_length=64)
    webhook_id: str = Field(max_length=64, unique=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = _when()
    lease_until: datetime | None = _when()
    last_error: str | None = Field(default=None, max_length=300)
    created_at: datetime = _created()
    delivered_at: datetime | None = _when()


class OperatorAccount(SQLModel, table=True):
    """A named dashboard account: an admin (every clinic) or one clinic's staff."""

    __tablename__ = "operator"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    # argon2id; "" for an account that only signs in through the single sign-on proxy.
    password_hash: str = Field(default="", max_length=200)
    role: str = Field(max_length=8)
    clinic_id: str | None = Field(default=None, foreign_key="clinic.id", max_length=64)
    # Bumped by disable, password and role changes: every session signed before them ends.
    session_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = _created()
    disabled_at: datetime | None = _when()
    password_changed_at: datetime | None = _when()


# What a clinic re-plan job may be; one queued job per clinic at most (coalescing).
REPLAN_STATUSES = ("queued", "running", "done", "failed")
REPLAN_STATUS_CHECK = "status IN (" + ", ".join(f"'{s}'" for s in REPLAN_STATUSES) + ")"


class ReplanJob(SQLModel, table=True):
    """A re-plan of one clinic's open rows after its settings changed, run in batches."""

    __table_args__ = (
        sa.Index(
            "ix_replanjob_one_queued",
            "clinic_id",
            unique=True,
            postgresql_where=sa.text("status = 'queued'"),
            sqlite_where=sa.text("status = 'queued'"),
        ),
        sa.Index("ix_replanjob_clinic_created", "clinic_id", "created_at"),
        sa.CheckConstraint(REPLAN_STATUS_CHECK, name="ck_replanjob_status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", max_length=64)
    requested_by: str = Field(max_length=128)
    reason: str = Field(default="", max_length=300)
    status: str = Field(default="queued", max_length=16)
    total: int = 0  # patients to re-plan, counted when a run starts
    done: int = 0
    # Keyset cursor: every patient up to this id is re-planned (committed with each batch).
    last_patient_id: int | None = None
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = _when()
    error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _created()
    started_at: datetime | None = _when()
    finished_at: datetime | None = _when()


class ClinicTemplate(SQLModel, table=True):
    """One version of a clinic's override of a shipped template; the newest is in force.

    Rows are never changed or deleted (history, rollback); `body` None means "back to shipped".
    """

    __table_args__ = (sa.UniqueConstraint("clinic_id", "name", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True, max_length=64)
    name: str = Field(max_length=120)  # the shipped path, e.g. "sms/en/day_1.txt"
    version: int
    body: str | None = Field(default=None, max_length=20000)
    created_at: datetime = _created()
    created_by: str = Field(default="", max_length=128)


class ClinicBranding(SQLModel, table=True):
    """One version of a clinic's email layout values; the newest is in force."""

    __table_args__ = (sa.UniqueConstraint("clinic_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str = Field(foreign_key="clinic.id", index=True, max_length=64)
    version: int
    display_name: str = Field(default="", max_length=200)
    logo_url: str = Field(default="", max_length=500)
    colour: str = Field(default="", max_length=7)
    background: str = Field(default="", max_length=7)
    footer: str = Field(default="", max_length=500)
    created_at: datetime = _created()
    created_by: str = Field(default="", max_length=128)


class StatusReport(SQLModel, table=True):
    """A provider's status callback about one message, as received, and what it did to the row."""

    id: int | None = Field(default=None, primary_key=True)
    # Cascade: a retention job deleting a message takes its reports with it.
    message_id: int = Field(
        sa_column=Column(
            sa.Integer, sa.ForeignKey("message.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    provider_id: str = Field(default="", max_length=128)
    status: str = Field(max_length=32)
    error_code: str | None = Field(default=None, max_length=32)
    outcome: str = Field(default="", max_length=200)
    received_at: datetime = _created()


class MessageTally(SQLModel, table=True):
    """How many finished messages a clinic has per channel, status and day (ops/tally.py)."""

    clinic_id: str = Field(primary_key=True, max_length=64)
    channel: str = Field(primary_key=True, max_length=16)
    status: str = Field(primary_key=True, max_length=16)
    day: date = Field(primary_key=True)
    count: int = 0


class MessageTotal(SQLModel, table=True):
    """The tally summed over days: what /metrics reads, a few rows however long the history."""

    clinic_id: str = Field(primary_key=True, max_length=64)
    channel: str = Field(primary_key=True, max_length=16)
    status: str = Field(primary_key=True, max_length=16)
    count: int = 0


class MessageHistory(SQLModel, table=True):
    """A message retention moved out of `message`: same id, no personal data (ops/retention.py)."""

    __table_args__ = (sa.Index("ix_messagehistory_patient_due", "patient_id", "due_at"),)

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    clinic_id: str = Field(max_length=64, index=True)
    patient_id: int
    treatment_id: int
    step_key: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    status: str = Field(max_length=16)
    due_at: datetime = _when(nullable=False)
    sent_at: datetime | None = _when()
    delivered_at: datetime | None = _when()
    created_at: datetime = _when(nullable=False)
    updated_at: datetime = _when(nullable=False)
    attempts: int = 0
    provider_id: str | None = Field(default=None, max_length=128)
    provider_code: str | None = Field(default=None, max_length=32)
    tally_day: date | None = None
    moved_at: datetime = _created()


class RetentionRun(SQLModel, table=True):
    """One retention run's progress: a keyset cursor over treatments, committed per batch."""

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: str | None = Field(default=None, max_length=64)
    started_at: datetime = _created()
    finished_at: datetime | None = _when()
    last_treatment_id: int = 0
    treatments: int = 0
    moved: int = 0


class SendAttempt(SQLModel, table=True):
    """One try at handing a message to its provider: when, how it ended, what came back."""

    id: int | None = Field(default=None, primary_key=True)
    # Cascade: a retention job deleting a message takes its attempts with it.
    message_id: int = Field(
        sa_column=Column(
            sa.Integer, sa.ForeignKey("message.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    number: int
    at: datetime = _created()
    status: str = Field(max_length=16)  # what the try left the row as
    provider_id: str | None = Field(default=None, max_length=128)
    provider_code: str | None = Field(default=None, max_length=32)
    error: str | None = Field(default=None, max_length=300)  # redacted, as last_error


# Core tables for set-based statements (claims, batch updates), typed for mypy.
MESSAGES: sa.Table = Message.__table__  # type: ignore[attr-defined]
PATIENTS: sa.Table = Patient.__table__  # type: ignore[attr-defined]
TREATMENTS: sa.Table = Treatment.__table__  # type: ignore[attr-defined]
CLINICS: sa.Table = Clinic.__table__  # type: ignore[attr-defined]
RECEIPTS: sa.Table = WebhookReceipt.__table__  # type: ignore[attr-defined]
REPLIES: sa.Table = InboundReply.__table__  # type: ignore[attr-defined]
AUDIT: sa.Table = AuditEntry.__table__  # type: ignore[attr-defined]
EVENTS: sa.Table = ClinicEvent.__table__  # type: ignore[attr-defined]
REPLAN_JOBS: sa.Table = ReplanJob.__table__  # type: ignore[attr-defined]
CLINIC_TEMPLATES: sa.Table = ClinicTemplate.__table__  # type: ignore[attr-defined]
CLINIC_BRANDING: sa.Table = ClinicBranding.__table__  # type: ignore[attr-defined]
STATUS_REPORTS: sa.Table = StatusReport.__table__  # type: ignore[attr-defined]
ATTEMPTS: sa.Table = SendAttempt.__table__  # type: ignore[attr-defined]
TALLY: sa.Table = MessageTally.__table__  # type: ignore[attr-defined]
TOTALS: sa.Table = MessageTotal.__table__  # type: ignore[attr-defined]
HISTORY: sa.Table = MessageHistory.__table__  # type: ignore[attr-defined]
RETENTION_RUNS: sa.Table = RetentionRun.__table__  # type: ignore[attr-defined]


def movable(move: lc.Move) -> ColumnElement[bool]:
    """Rows whose status allows `move`: the compare-and-set every change of status carries."""
    allowed = lc.sources(move)
    column = MESSAGES.c.status
    if len(allowed) == 1:
        return column == allowed[0]
    # One bound value each rather than an expanding IN, which executemany cannot take.
    return column.in_([sa.literal(status) for status in allowed])
