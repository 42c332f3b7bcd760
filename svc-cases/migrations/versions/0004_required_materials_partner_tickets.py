"""required materials (the catalogue's material lists in the read copies, a read copy of city
implementations, the 容缺 materials a case still lacks) and hotline tickets referred by the
partner city

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
SCHEMA = "cases"
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # NULL: the catalogue did not say (an event from before materials were sent): nothing enforced.
    op.add_column("catalog_item", sa.Column("materials", postgresql.JSONB), schema=SCHEMA)
    op.add_column("catalog_bundle", sa.Column("materials", postgresql.JSONB), schema=SCHEMA)
    op.add_column("case", sa.Column("missing_materials", postgresql.JSONB), schema=SCHEMA)
    op.create_table(
        "catalog_implementation",
        sa.Column("implementation_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("code", sa.String(31), nullable=False),
        sa.Column("basic_code", sa.String(12), nullable=False),
        sa.Column("city_code", sa.String(6), nullable=False),
        sa.Column("department", sa.String(18)),
        sa.Column("materials", postgresql.JSONB),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("synced_at", TZ, server_default=sa.func.now(), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_catalog_implementation_code", "catalog_implementation", ["code"], schema=SCHEMA)
    op.create_index("ix_catalog_implementation_basic_code_city", "catalog_implementation",
                    ["basic_code", "city_code"], schema=SCHEMA)
    op.add_column("hotline_ticket", sa.Column("referral_id", postgresql.UUID(as_uuid=True)), schema=SCHEMA)
    op.add_column("hotline_ticket", sa.Column("partner_region", sa.String(6)), schema=SCHEMA)
    op.add_column("hotline_ticket", sa.Column("partner_ticket_number", sa.String(40)), schema=SCHEMA)
    op.add_column("hotline_ticket", sa.Column("partner_category", sa.String(100)), schema=SCHEMA)
    # One ticket per referral, whatever happens to the inbox.
    op.create_index("uq_hotline_ticket_referral", "hotline_ticket", ["referral_id"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("referral_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("uq_hotline_ticket_referral", "hotline_ticket", schema=SCHEMA)
    for column in ("partner_category", "partner_ticket_number", "partner_region", "referral_id"):
        op.drop_column("hotline_ticket", column, schema=SCHEMA)
    op.drop_table("catalog_implementation", schema=SCHEMA)
    op.drop_column("case", "missing_materials", schema=SCHEMA)
    op.drop_column("catalog_bundle", "materials", schema=SCHEMA)
    op.drop_column("catalog_item", "materials", schema=SCHEMA)
