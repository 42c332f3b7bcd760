"""platform tables and the item table

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
SCHEMA = "catalog"


def upgrade() -> None:
    create_platform_tables_v1(op, SCHEMA)
    op.create_table(
        "item",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("basic_code", sa.String(12), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("aliases", postgresql.ARRAY(sa.String(200)), nullable=False),
        sa.Column("exercise_level", sa.Integer, nullable=False),
        sa.Column("legal_basis", sa.Text),
        sa.Column("case_type", sa.String(20), nullable=False),
        sa.Column("statutory_limit", sa.Integer),
        sa.Column("statutory_limit_unit", sa.String(20)),
        sa.Column("promised_limit", sa.Integer),
        sa.Column("promised_limit_unit", sa.String(20)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("basic_code", name="uq_item_basic_code"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("item", schema=SCHEMA)
    drop_platform_tables_v1(op, SCHEMA)
