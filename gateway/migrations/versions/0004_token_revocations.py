"""token revocations: what access tokens stop working before they expire

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
SCHEMA = "gateway"


def upgrade() -> None:
    op.create_table(
        "token_revocation",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("value", sa.String(120), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True)),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    # Raw SQL keeps the constraint names exact whatever naming convention the metadata carries.
    op.execute(f"ALTER TABLE {SCHEMA}.token_revocation ADD CONSTRAINT ck_token_revocation_kind "
               "CHECK (kind IN ('sid', 'delegation', 'subject'))")
    op.execute(f"ALTER TABLE {SCHEMA}.token_revocation ADD CONSTRAINT ck_token_revocation_cutoff "
               "CHECK ((kind = 'subject') = (cutoff IS NOT NULL))")
    op.create_index("ix_token_revocation_expires_at", "token_revocation", ["expires_at"], schema=SCHEMA)
    op.create_index("ix_token_revocation_created_at", "token_revocation", ["created_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("token_revocation", schema=SCHEMA)
