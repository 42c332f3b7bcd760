"""platform tables, accounts and signing keys

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
SCHEMA = "gateway"


def upgrade() -> None:
    create_platform_tables_v1(op, SCHEMA)
    op.create_table(
        "account",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("id_number", sa.String(18)),
        sa.Column("phone", sa.String(20)),
        sa.Column("credit_code", sa.String(18)),
        sa.Column("department", sa.String(50)),
        sa.Column("hall", sa.String(50)),
        sa.Column("active", sa.Boolean, server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("username", name="uq_account_username"),
        sa.CheckConstraint("role IN ('citizen', 'company', 'clerk', 'approver', 'admin', 'auditor')",
                           name="ck_account_role"),
        schema=SCHEMA,
    )
    op.create_index("uq_account_citizen_id_number", "account", ["id_number"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("role = 'citizen'"))
    op.create_table(
        "signing_key",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("algorithm", sa.String(10), nullable=False),
        sa.Column("private_pem", sa.Text, nullable=False),
        sa.Column("public_jwk", postgresql.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("signing_key", schema=SCHEMA)
    op.drop_index("uq_account_citizen_id_number", "account", schema=SCHEMA)
    op.drop_table("account", schema=SCHEMA)
    drop_platform_tables_v1(op, SCHEMA)
