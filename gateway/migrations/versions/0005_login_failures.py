"""login failures: the login lockout shared by every gateway process

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
SCHEMA = "gateway"


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )
    op.create_index("ix_login_failure_window_start", "login_failure", ["window_start"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("login_failure", schema=SCHEMA)
