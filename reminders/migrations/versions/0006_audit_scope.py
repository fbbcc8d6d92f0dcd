"""audit entries name their clinic and target and keep the values before and after

Revision ID: 0006_audit_scope
Revises: 0005_status_check
Create Date: 2026-12-07 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_audit_scope"
down_revision: str | None = "0005_status_check"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("auditentry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clinic_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("target", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("before", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("after", sa.JSON(), nullable=True))
        batch_op.create_index("ix_auditentry_clinic_at", ["clinic_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("auditentry", schema=None) as batch_op:
        batch_op.drop_index("ix_auditentry_clinic_at")
        batch_op.drop_column("after")
        batch_op.drop_column("before")
        batch_op.drop_column("target")
        batch_op.drop_column("clinic_id")
