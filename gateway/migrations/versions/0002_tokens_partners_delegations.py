"""refresh tokens, partner clients, real-name levels, staff posts, company roles, delegations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "gateway"


def upgrade() -> None:
    op.add_column("account", sa.Column("real_name_level", sa.String(30)), schema=SCHEMA)
    op.add_column("account", sa.Column("counter", sa.String(50)), schema=SCHEMA)
    op.add_column("account", sa.Column("company_role", sa.String(30)), schema=SCHEMA)
    op.add_column("account", sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                                       nullable=False), schema=SCHEMA)
    op.execute(f"UPDATE {SCHEMA}.account SET real_name_level = 'self_declared' WHERE role = 'citizen'")
    op.execute(f"UPDATE {SCHEMA}.account SET company_role = 'legal_representative' WHERE role = 'company'")
    # Raw SQL keeps the constraint names exact whatever naming convention the metadata carries.
    op.execute(f"ALTER TABLE {SCHEMA}.account ADD CONSTRAINT ck_account_real_name_level "
               "CHECK (real_name_level IN ('self_declared', 'verified_at_counter'))")
    op.execute(f"ALTER TABLE {SCHEMA}.account ADD CONSTRAINT ck_account_company_role "
               "CHECK (company_role IN ('legal_representative', 'agent'))")

    op.create_table(
        "refresh_token",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("family_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", postgresql.UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.account.id", name="fk_refresh_token_account_id_account"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("token_hash", name="uq_refresh_token_token_hash"),
        schema=SCHEMA,
    )
    op.create_index("ix_refresh_token_family_id", "refresh_token", ["family_id"], schema=SCHEMA)

    op.create_table(
        "oauth_client",
        sa.Column("client_id", sa.String(100), primary_key=True),
        sa.Column("secret_hash", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("partner", sa.String(6), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        schema=SCHEMA,
    )

    op.create_table(
        "delegation",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("credit_code", sa.String(18), nullable=False),
        sa.Column("representative_id", postgresql.UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.account.id", name="fk_delegation_representative_id_account"),
                  nullable=False),
        sa.Column("agent_id", postgresql.UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.account.id", name="fk_delegation_agent_id_account"), nullable=False),
        sa.Column("items", postgresql.ARRAY(sa.String(50)), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_reason", sa.String(500)),
        schema=SCHEMA,
    )
    op.create_index("ix_delegation_agent_id", "delegation", ["agent_id"], schema=SCHEMA)
    op.create_index("ix_delegation_credit_code", "delegation", ["credit_code"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("delegation", schema=SCHEMA)
    op.drop_table("oauth_client", schema=SCHEMA)
    op.drop_table("refresh_token", schema=SCHEMA)
    op.execute(f"ALTER TABLE {SCHEMA}.account DROP CONSTRAINT ck_account_company_role")
    op.execute(f"ALTER TABLE {SCHEMA}.account DROP CONSTRAINT ck_account_real_name_level")
    for column in ("updated_at", "company_role", "counter", "real_name_level"):
        op.drop_column("account", column, schema=SCHEMA)
