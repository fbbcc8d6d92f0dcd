"""clinic re-plan jobs: one row per re-plan of a clinic's open rows, with its keyset cursor

Revision ID: 0009_replan_jobs
Revises: 0008_clinic_templates
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from reminders.models import UTCDateTime

revision: str = "0009_replan_jobs"
down_revision: str | None = "0008_clinic_templates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replanjob",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("last_patient_id", sa.Integer(), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name="ck_replanjob_status"
        ),
    )
    op.create_index(
        "ix_replanjob_one_queued",
        "replanjob",
        ["clinic_id"],
        unique=True,
        postgresql_where=sa.text("status = 'queued'"),
        sqlite_where=sa.text("status = 'queued'"),
    )
    op.create_index("ix_replanjob_clinic_created", "replanjob", ["clinic_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_replanjob_clinic_created", table_name="replanjob")
    op.drop_index("ix_replanjob_one_queued", table_name="replanjob")
    op.drop_table("replanjob")
