"""incoming cases point at svc-cases' case; the partner's cross-city items; partner sync status

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
SCHEMA = "interop"
TS = sa.DateTime(timezone=True)
NOW = sa.func.now()
UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    op.add_column("incoming_case", sa.Column("local_case_id", UUID, nullable=True), schema=SCHEMA)
    op.create_index("ix_incoming_case_local_case_id", "incoming_case", ["local_case_id"], unique=True, schema=SCHEMA)
    op.create_table(
        "partner_item",
        sa.Column("partner", sa.String(6), sa.ForeignKey(f"{SCHEMA}.partner.region_code", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("item_id", UUID, primary_key=True),
        sa.Column("basic_code", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("case_type", sa.String(20)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("withdrawn", sa.Boolean, server_default=sa.false(), nullable=False),
        sa.Column("synced_at", TS, server_default=NOW, nullable=False),
        schema=SCHEMA)
    op.create_index("ix_partner_item_basic_code", "partner_item", ["basic_code"], schema=SCHEMA)
    op.create_table(
        "partner_sync",
        sa.Column("partner", sa.String(6), sa.ForeignKey(f"{SCHEMA}.partner.region_code", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("count", sa.Integer, server_default="0", nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("attempted_at", TS, server_default=NOW, nullable=False),
        sa.Column("succeeded_at", TS),
        schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("partner_sync", schema=SCHEMA)
    op.drop_table("partner_item", schema=SCHEMA)
    op.drop_index("ix_incoming_case_local_case_id", "incoming_case", schema=SCHEMA)
    op.drop_column("incoming_case", "local_case_id", schema=SCHEMA)
