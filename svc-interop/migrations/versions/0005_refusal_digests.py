"""the log keeps a refused request's digest, not its body

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
SCHEMA = "interop"


def upgrade() -> None:
    # Null for every entry before this one: their bodies are kept and their digests recomputed.
    op.add_column("message_log", sa.Column("request_body_sha256", sa.String(64), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("message_log", "request_body_sha256", schema=SCHEMA)
