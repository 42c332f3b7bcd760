"""counter consents (witnessed by a clerk), partners' status-list URL, one replay record for every
presentation (ours and partners'); presentation.used_at gives way to it; seal uses' time-stamp tokens

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
S = "credentials"


def upgrade() -> None:
    for name, length in (("witnessed_by", 200), ("witness_name", 200), ("witness_hall", 64), ("witness_counter", 64)):
        op.add_column("consent", sa.Column(name, sa.String(length)), schema=S)
    op.add_column("trusted_region", sa.Column("status_list_url", sa.String(500)), schema=S)
    op.create_table(
        "presentation_check",
        sa.Column("origin", sa.String(6), primary_key=True),     # '' ours, else the partner's region code
        sa.Column("pid", sa.String(64), primary_key=True),
        sa.Column("verifier", sa.String(200), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema=S)
    op.create_index("ix_presentation_check_expires_at", "presentation_check", ["expires_at"], schema=S)
    op.drop_column("presentation", "used_at", schema=S)
    op.add_column("seal_use", sa.Column("timestamp_token", sa.Text()), schema=S)


def downgrade() -> None:
    op.drop_column("seal_use", "timestamp_token", schema=S)
    op.add_column("presentation", sa.Column("used_at", sa.DateTime(timezone=True)), schema=S)
    op.drop_table("presentation_check", schema=S)
    op.drop_column("trusted_region", "status_list_url", schema=S)
    for name in ("witnessed_by", "witness_name", "witness_hall", "witness_counter"):
        op.drop_column("consent", name, schema=S)
