"""trust: a case names the hall a counter case was taken at and the delegation its submitter
acted under; each timeline entry names the principal acted for and the delegation

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None
SCHEMA = "cases"


def upgrade() -> None:
    op.add_column("case", sa.Column("hall", sa.String(50)), schema=SCHEMA)
    op.add_column("case", sa.Column("delegation_id", sa.String(36)), schema=SCHEMA)
    op.create_index("ix_case_hall", "case", ["hall"], schema=SCHEMA)
    op.add_column("case_timeline_entry", sa.Column("principal", sa.String(18)), schema=SCHEMA)
    op.add_column("case_timeline_entry", sa.Column("delegation_id", sa.String(36)), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("case_timeline_entry", "delegation_id", schema=SCHEMA)
    op.drop_column("case_timeline_entry", "principal", schema=SCHEMA)
    op.drop_index("ix_case_hall", "case", schema=SCHEMA)
    op.drop_column("case", "delegation_id", schema=SCHEMA)
    op.drop_column("case", "hall", schema=SCHEMA)
