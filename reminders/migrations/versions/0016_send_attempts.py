"""each try at sending a message is kept, for the operator's page of a message

Revision ID: 0016_send_attempts
Revises: 0015_operator_views
Create Date: 2026-12-07 03:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import reminders.models

revision: str = "0016_send_attempts"
down_revision: str | None = "0015_operator_views"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sendattempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", reminders.models.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("provider_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("provider_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sendattempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sendattempt_message_id"), ["message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sendattempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sendattempt_message_id"))
    op.drop_table("sendattempt")
