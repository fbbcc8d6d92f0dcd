"""clinic secrets encrypted at rest (Fernet under REMINDERS_ENCRYPTION_KEYS)

Revision ID: 0013_encrypted_secrets
Revises: 0012_history
Create Date: 2026-12-07 02:40:00
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from reminders import secretbox

revision: str = "0013_encrypted_secrets"
down_revision: str | None = "0012_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECRETS = ("webhook_secret", "previous_webhook_secret", "events_secret", "twilio_auth_token")
# Raw strings: this migration sees the stored values, not the model's decrypted ones.
CLINIC = sa.table("clinic", sa.column("id", sa.String), *(sa.column(c, sa.String) for c in SECRETS))


def resize(length: int) -> None:
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        for name in SECRETS:
            batch_op.alter_column(
                name,
                type_=sqlmodel.sql.sqltypes.AutoString(length=length),
                existing_nullable=False,
            )


def rewrite(change: Callable[[str], str]) -> None:
    connection = op.get_bind()
    for row in connection.execute(sa.select(CLINIC)).mappings().all():
        values = {name: change(row[name] or "") for name in SECRETS}
        connection.execute(CLINIC.update().where(CLINIC.c.id == row["id"]).values(**values))


def upgrade() -> None:
    resize(secretbox.SEALED_LENGTH)
    rewrite(secretbox.seal)


def downgrade() -> None:
    rewrite(secretbox.unseal)
    resize(200)
