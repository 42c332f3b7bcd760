"""the official holiday schedules (a year's notice and its days) and provisional deadlines

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
SCHEMA = "cases"
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "calendar_year",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("notice_number", sa.String(100), nullable=False),
        sa.Column("notice_date", sa.Date, nullable=False),
        sa.Column("holidays", postgresql.JSONB, nullable=False),
        sa.Column("adjusted_workdays", postgresql.JSONB, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("recomputed_revision", sa.Integer),
        sa.Column("imported_by", sa.String(100), nullable=False),
        sa.Column("imported_at", TZ, server_default=sa.func.now(), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "official_day",
        sa.Column("on_date", sa.Date, primary_key=True),
        sa.Column("year", sa.Integer, sa.ForeignKey(f"{SCHEMA}.calendar_year.year", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("is_workday", sa.Boolean, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_official_day_year", "official_day", ["year"], schema=SCHEMA)
    op.add_column("case", sa.Column("deadline_basis", sa.Text), schema=SCHEMA)
    # Open cases whose deadline already lies in a year nobody has published are found by this.
    op.create_index("ix_case_provisional", "case", ["deadline_on"], schema=SCHEMA,
                    postgresql_where=sa.text("deadline_basis IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_case_provisional", "case", schema=SCHEMA)
    op.drop_column("case", "deadline_basis", schema=SCHEMA)
    op.drop_table("official_day", schema=SCHEMA)
    op.drop_table("calendar_year", schema=SCHEMA)
