"""platform tables and the read copy of catalogue items

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tongban.shared.tables import create_platform_tables_v1, drop_platform_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "cases"


def upgrade() -> None:
    create_platform_tables_v1(op, SCHEMA)
    op.create_table(
        "catalog_item",
        sa.Column("item_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("basic_code", sa.String(12), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("item_type", sa.String(2), nullable=False),
        sa.Column("case_type", sa.String(20), nullable=False),
        sa.Column("promised_limit", sa.Integer),
        sa.Column("promised_limit_unit", sa.String(20)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("applied_events", sa.Integer, nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_catalog_item_basic_code", "catalog_item", ["basic_code"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("catalog_item", schema=SCHEMA)
    drop_platform_tables_v1(op, SCHEMA)
