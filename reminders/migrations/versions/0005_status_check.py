"""outbox rows may only hold the statuses of the state machine (a CHECK constraint)

The list is frozen here, as a migration must be; reminders.models builds the same constraint
from lifecycle.Status, and tests/test_states.py fails when the two part. SQLite cannot add a
constraint in place: batch mode copies the table (env.py lets it drop the old one while audit
entries point at it).

Revision ID: 0005_status_check
Revises: 0004
Create Date: 2026-11-22 22:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_status_check"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = (
    "pending",
    "claimed",
    "sending",
    "sent",
    "delivered",
    "cancelled",
    "skipped",
    "failed",
    "dead",
    "unknown",
)


def upgrade() -> None:
    allowed = ", ".join(f"'{status}'" for status in STATUSES)
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_check_constraint("ck_message_status", f"status IN ({allowed})")


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_constraint("ck_message_status", type_="check")
