"""status callbacks are kept per message, for the operator's page of a message

Revision ID: 0015_operator_views
Revises: 0013_encrypted_secrets
Create Date: 2026-12-07 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import reminders.models

revision: str = "0015_operator_views"
down_revision: str | None = "0013_encrypted_secrets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "statusreport",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("error_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("received_at", reminders.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("statusreport", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_statusreport_message_id"), ["message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("statusreport", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statusreport_message_id"))
    op.drop_table("statusreport")
