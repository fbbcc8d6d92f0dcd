"""bounded operator reads: message tally, keyset indexes, retention history, audit ids kept

Revision ID: 0012_history
Revises: 0011_outbound_events
Create Date: 2026-12-07 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import reminders.models
from reminders.models import UNTALLIED

revision: str = "0012_history"
down_revision: str | None = "0011_outbound_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's foreign key on auditentry has no name: batch mode names it by this convention.
AUDIT_FK = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    op.create_table(
        "messagetally",
        sa.Column("clinic_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("clinic_id", "channel", "status", "day"),
    )
    op.create_table(
        "messagetotal",
        sa.Column("clinic_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("clinic_id", "channel", "status"),
    )
    op.create_table(
        "messagehistory",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("clinic_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("treatment_id", sa.Integer(), nullable=False),
        sa.Column("step_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("due_at", reminders.models.UTCDateTime(), nullable=False),
        sa.Column("sent_at", reminders.models.UTCDateTime(), nullable=True),
        sa.Column("delivered_at", reminders.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", reminders.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", reminders.models.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("provider_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("provider_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("tally_day", sa.Date(), nullable=True),
        sa.Column("moved_at", reminders.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("messagehistory", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_messagehistory_clinic_id"), ["clinic_id"], unique=False
        )
        batch_op.create_index("ix_messagehistory_patient_due", ["patient_id", "due_at"])
    op.create_table(
        "retentionrun",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("started_at", reminders.models.UTCDateTime(), nullable=False),
        sa.Column("finished_at", reminders.models.UTCDateTime(), nullable=True),
        sa.Column("last_treatment_id", sa.Integer(), nullable=False),
        sa.Column("treatments", sa.Integer(), nullable=False),
        sa.Column("moved", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retention_days", sa.Integer(), nullable=False, server_default="180")
        )
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.create_index("ix_patient_external_id", ["external_id"])
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tally_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(sa.Column("tally_day", sa.Date(), nullable=True))
        # The keyset indexes lead with these columns: the single-column ones would only cost
        # every claim and send one more index entry.
        batch_op.drop_index("ix_message_patient_id")
        batch_op.drop_index("ix_message_clinic_id")
        batch_op.create_index("ix_message_due_id", ["due_at", "id"])
        batch_op.create_index("ix_message_clinic_due", ["clinic_id", "due_at", "id"])
        batch_op.create_index("ix_message_status_due", ["status", "due_at", "id"])
        batch_op.create_index("ix_message_patient_due", ["patient_id", "due_at", "id"])
        batch_op.create_index(
            "ix_message_untallied",
            ["id"],
            postgresql_where=sa.text(UNTALLIED),
            sqlite_where=sa.text(UNTALLIED),
        )
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("auditentry", naming_convention=AUDIT_FK) as batch_op:
            batch_op.drop_constraint("fk_auditentry_message_id_message", type_="foreignkey")
    else:
        op.drop_constraint("auditentry_message_id_fkey", "auditentry", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("auditentry", naming_convention=AUDIT_FK) as batch_op:
        batch_op.create_foreign_key(
            "fk_auditentry_message_id_message", "message", ["message_id"], ["id"]
        )
    with op.batch_alter_table("message", schema=None) as batch_op:
        for name in (
            "ix_message_untallied",
            "ix_message_patient_due",
            "ix_message_status_due",
            "ix_message_clinic_due",
            "ix_message_due_id",
        ):
            batch_op.drop_index(name)
        batch_op.create_index("ix_message_patient_id", ["patient_id"], unique=False)
        batch_op.create_index("ix_message_clinic_id", ["clinic_id"], unique=False)
        batch_op.drop_column("tally_day")
        batch_op.drop_column("tally_status")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index("ix_patient_external_id")
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.drop_column("retention_days")
    op.drop_table("retentionrun")
    op.drop_table("messagehistory")
    op.drop_table("messagetotal")
    op.drop_table("messagetally")
