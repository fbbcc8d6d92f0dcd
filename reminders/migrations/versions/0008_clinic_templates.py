"""clinic template overrides and branding, with history; messages name their template version

Revision ID: 0008_clinic_templates
Revises: 0007_senders
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import reminders.models

revision: str = "0008_clinic_templates"
down_revision: str | None = "0007_senders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Text = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "clinictemplate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", Text(length=64), nullable=False),
        sa.Column("name", Text(length=120), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", Text(length=20000), nullable=True),
        sa.Column("created_at", reminders.models.UTCDateTime(), nullable=False),
        sa.Column("created_by", Text(length=128), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clinic_id", "name", "version"),
    )
    with op.batch_alter_table("clinictemplate", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_clinictemplate_clinic_id"), ["clinic_id"], unique=False
        )
    op.create_table(
        "clinicbranding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", Text(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("display_name", Text(length=200), nullable=False),
        sa.Column("logo_url", Text(length=500), nullable=False),
        sa.Column("colour", Text(length=7), nullable=False),
        sa.Column("background", Text(length=7), nullable=False),
        sa.Column("footer", Text(length=500), nullable=False),
        sa.Column("created_at", reminders.models.UTCDateTime(), nullable=False),
        sa.Column("created_by", Text(length=128), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clinic_id", "version"),
    )
    with op.batch_alter_table("clinicbranding", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_clinicbranding_clinic_id"), ["clinic_id"], unique=False
        )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("template_version", Text(length=300), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("template_version")
    with op.batch_alter_table("clinicbranding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clinicbranding_clinic_id"))
    op.drop_table("clinicbranding")
    with op.batch_alter_table("clinictemplate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clinictemplate_clinic_id"))
    op.drop_table("clinictemplate")
