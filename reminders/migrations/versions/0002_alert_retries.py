"""warning-sign alerts: due time, attempts, lease and last error, for retries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import reminders.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inboundreply", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_due_at", reminders.models.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("alert_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("alert_lease_until", reminders.models.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("alert_error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True)
        )
        batch_op.create_index(
            "ix_inboundreply_alert_due",
            ["alert_due_at"],
            unique=False,
            postgresql_where=sa.text("alert_due_at IS NOT NULL"),
            sqlite_where=sa.text("alert_due_at IS NOT NULL"),
        )
    # Warnings stored before retries existed and never alerted: try them once more.
    op.execute(
        "UPDATE inboundreply SET alert_due_at = received_at "
        "WHERE kind = 'warning' AND alerted_at IS NULL AND patient_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("inboundreply", schema=None) as batch_op:
        batch_op.drop_index("ix_inboundreply_alert_due")
        batch_op.drop_column("alert_error")
        batch_op.drop_column("alert_lease_until")
        batch_op.drop_column("alert_attempts")
        batch_op.drop_column("alert_due_at")
