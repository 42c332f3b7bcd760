"""platform tables (outbox, inbox, dead letters, idempotency keys, audit trail)

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
from alembic import op

from tongban.shared.tables import create_platform_tables_v1, drop_platform_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "queue"


def upgrade() -> None:
    create_platform_tables_v1(op, SCHEMA)


def downgrade() -> None:
    drop_platform_tables_v1(op, SCHEMA)
