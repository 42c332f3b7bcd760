"""the city dashboard's read model of svc-cases' events: cases and ratings

Revision ID: 0005_dashboard
Revises: 0004
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0005_dashboard"
down_revision = "0004"
branch_labels = None
depends_on = None
SCHEMA = "queue"


def upgrade() -> None:
    op.create_table(
        "dashboard_case",
        sa.Column("case_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_number", sa.String(64), nullable=False),
        sa.Column("item_basic_code", sa.String(32), nullable=False),
        sa.Column("department", sa.String(32)),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("state_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decision", sa.String(16)),
        sa.Column("instant", sa.Boolean, nullable=False),
        sa.Column("deadline_on", sa.Date),
        sa.Column("warned_at", sa.DateTime(timezone=True)),
        sa.Column("overdue_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_index("ix_dashboard_case_submitted", "dashboard_case", ["submitted_at"], schema=SCHEMA)
    op.create_index("ix_dashboard_case_decided", "dashboard_case", ["decided_at"], schema=SCHEMA)
    op.create_table(
        "dashboard_rating",
        sa.Column("rating_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("department", sa.String(32)),
        sa.Column("level", sa.Integer),
        sa.Column("rated_at", sa.DateTime(timezone=True)),
        sa.Column("remedy_state", sa.String(16)),
        sa.Column("remedy_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_index("ix_dashboard_rating_rated", "dashboard_rating", ["rated_at"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("dashboard_rating", schema=SCHEMA)
    op.drop_table("dashboard_case", schema=SCHEMA)
