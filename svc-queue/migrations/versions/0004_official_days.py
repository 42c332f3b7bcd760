"""a read copy of the official holiday schedules svc-cases imports; halls open on rest days (全年无休)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
SCHEMA = "queue"


def upgrade() -> None:
    op.create_table(
        "official_day",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("is_working_day", sa.Boolean, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_official_day_year", "official_day", ["year"], schema=SCHEMA)
    op.add_column("hall", sa.Column("open_on_rest_days", sa.Boolean, nullable=False, server_default="false"),
                  schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("hall", "open_on_rest_days", schema=SCHEMA)
    op.drop_table("official_day", schema=SCHEMA)
