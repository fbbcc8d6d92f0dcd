"""outbox rows lose the index on provider_id: no query looks a row up by it

Status callbacks find their row by id and reconciliation by address, so the index only cost
a write for every row planned and every send.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 18:25:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_provider_id")


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index("ix_message_provider_id", ["provider_id"], unique=False)
