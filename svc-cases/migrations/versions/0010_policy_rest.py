"""benefit policies amended in versions and closed: each grant names the version it was granted
under; the configuration of every earlier version is kept; grants still without a bank account
are reminded once

Revision ID: 0010_policy_rest
Revises: 0009_documents
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0010_policy_rest"
down_revision = "0009_documents"
branch_labels = None
depends_on = None
SCHEMA = "cases"
NOW = sa.text("now()")


def upgrade() -> None:
    op.add_column("benefit_policy", sa.Column("version", sa.Integer, nullable=False, server_default="1"),
                  schema=SCHEMA)
    op.add_column("benefit_policy", sa.Column("amended_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column("benefit_policy", sa.Column("closed_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.add_column("benefit_policy", sa.Column("close_reason", sa.String(500)), schema=SCHEMA)
    op.add_column("benefit_grant", sa.Column("policy_version", sa.Integer, nullable=False, server_default="1"),
                  schema=SCHEMA)
    op.add_column("benefit_grant", sa.Column("account_reminded_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    # The reminder's sweep: grants still without a bank account, oldest first.
    op.create_index("ix_benefit_grant_no_account", "benefit_grant", ["created_at"], schema=SCHEMA,
                    postgresql_where=sa.text("bank_account IS NULL AND account_reminded_at IS NULL"))
    op.create_table(
        "benefit_policy_version",
        sa.Column("policy_id", UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.benefit_policy.id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("config", JSONB, nullable=False),
        sa.Column("replaced_by", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("benefit_policy_version", schema=SCHEMA)
    op.drop_index("ix_benefit_grant_no_account", table_name="benefit_grant", schema=SCHEMA)
    op.drop_column("benefit_grant", "account_reminded_at", schema=SCHEMA)
    op.drop_column("benefit_grant", "policy_version", schema=SCHEMA)
    for column in ("close_reason", "closed_at", "amended_at", "version"):
        op.drop_column("benefit_policy", column, schema=SCHEMA)
