"""clinics may register an endpoint for signed events; the clinicevent outbox holds them

Revision ID: 0011_outbound_events
Revises: 0010_operators
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import reminders.models

revision: str = "0011_outbound_events"
down_revision: str | None = "0010_operators"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "events_url",
                sqlmodel.sql.sqltypes.AutoString(length=500),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column(
                "events_secret",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )
    op.create_table(
        "clinicevent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("webhook_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", reminders.models.UTCDateTime(), nullable=True),
        sa.Column("lease_until", reminders.models.UTCDateTime(), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("created_at", reminders.models.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", reminders.models.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'dead')", name="ck_clinicevent_status"
        ),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("webhook_id"),
    )
    op.create_index(
        "ix_clinicevent_due",
        "clinicevent",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_clinicevent_clinic_created", "clinicevent", ["clinic_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_clinicevent_clinic_created", table_name="clinicevent")
    op.drop_index("ix_clinicevent_due", table_name="clinicevent")
    op.drop_table("clinicevent")
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.drop_column("events_secret")
        batch_op.drop_column("events_url")
