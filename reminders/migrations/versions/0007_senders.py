"""clinics may have their own Twilio sender; messages and replies record the sender's key

Revision ID: 0007_senders
Revises: 0006_audit_scope
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_senders"
down_revision: str | None = "0006_audit_scope"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLINIC_COLUMNS = (
    ("sms_from", 32),
    ("sms_messaging_service_sid", 34),
    ("twilio_account_sid", 34),
    ("twilio_auth_token", 200),
)


def upgrade() -> None:
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        for name, length in CLINIC_COLUMNS:
            batch_op.add_column(
                sa.Column(name, sa.String(length=length), nullable=False, server_default="")
            )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_message_patient_sender_sent", ["patient_id", "sender", "sent_at"], unique=False
        )
    with op.batch_alter_table("inboundreply", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inboundreply", schema=None) as batch_op:
        batch_op.drop_column("sender")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_patient_sender_sent")
        batch_op.drop_column("sender")
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        for name, _length in reversed(CLINIC_COLUMNS):
            batch_op.drop_column(name)
