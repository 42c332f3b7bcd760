"""trust: real-name levels verified / counter_verified and provider verifications; one verified
account per ID number; staff halls and departments; delegations for persons as for companies,
with actions, start, and the counter's witness and 委托书

Revision ID: 0006_trust
Revises: 0005
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_trust"
down_revision = "0005"
branch_labels = None
depends_on = None
SCHEMA = "gateway"


def upgrade() -> None:
    op.execute("ALTER TABLE gateway.account DROP CONSTRAINT ck_account_real_name_level")
    op.execute("UPDATE gateway.account SET real_name_level = 'counter_verified' "
               "WHERE real_name_level = 'verified_at_counter'")
    op.execute("ALTER TABLE gateway.account ADD CONSTRAINT ck_account_real_name_level "
               "CHECK (real_name_level IN ('self_declared', 'verified', 'counter_verified'))")
    op.execute("ALTER TABLE gateway.account DROP CONSTRAINT ck_account_company_role")
    op.execute("ALTER TABLE gateway.account ADD CONSTRAINT ck_account_company_role "
               "CHECK (company_role IN ('legal_representative', 'administrator', 'agent'))")
    op.drop_index("uq_account_citizen_id_number", "account", schema=SCHEMA)
    op.create_index("uq_account_citizen_id_number", "account", ["id_number"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("role = 'citizen' AND active AND real_name_level IN ('verified', 'counter_verified')"))
    op.add_column("account", sa.Column("halls", postgresql.ARRAY(sa.String(50))), schema=SCHEMA)
    op.add_column("account", sa.Column("departments", postgresql.ARRAY(sa.String(50))), schema=SCHEMA)
    op.execute("UPDATE gateway.account SET halls = ARRAY[hall] WHERE hall IS NOT NULL")
    op.execute("UPDATE gateway.account SET departments = ARRAY[department] WHERE department IS NOT NULL")

    op.create_table(
        "real_name_verification",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("gateway.account.id"), nullable=False, index=True),
        sa.Column("provider", sa.String(50), nullable=False),
        sa.Column("answer_id", sa.String(100), nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),   # the provider's signed answer, as received
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("provider", "answer_id", name="uq_real_name_verification_answer"),
        schema=SCHEMA,
    )

    op.add_column("delegation", sa.Column("principal_kind", sa.String(10), server_default="company",
                                          nullable=False), schema=SCHEMA)
    op.add_column("delegation", sa.Column("principal_id", sa.String(18)), schema=SCHEMA)
    op.execute("UPDATE gateway.delegation SET principal_id = credit_code")
    op.alter_column("delegation", "principal_id", nullable=False, schema=SCHEMA)
    op.create_index("ix_delegation_principal_id", "delegation", ["principal_id"], schema=SCHEMA)
    op.add_column("delegation", sa.Column("principal_name", sa.String(200)), schema=SCHEMA)
    op.alter_column("delegation", "credit_code", nullable=True, schema=SCHEMA)
    op.alter_column("delegation", "representative_id", nullable=True, schema=SCHEMA)
    op.add_column("delegation", sa.Column("actions", postgresql.ARRAY(sa.String(20)),
                                          server_default="{read,apply}", nullable=False), schema=SCHEMA)
    op.add_column("delegation", sa.Column("starts_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                                          nullable=False), schema=SCHEMA)
    op.add_column("delegation", sa.Column("granted_via", sa.String(10), server_default="online", nullable=False),
                  schema=SCHEMA)
    op.add_column("delegation", sa.Column("witnessed_by", sa.Uuid()), schema=SCHEMA)
    op.add_column("delegation", sa.Column("hall", sa.String(50)), schema=SCHEMA)
    op.add_column("delegation", sa.Column("document_ref", sa.String(200)), schema=SCHEMA)
    op.execute("ALTER TABLE gateway.delegation ADD CONSTRAINT ck_delegation_principal_kind "
               "CHECK (principal_kind IN ('person', 'company'))")
    op.execute("ALTER TABLE gateway.delegation ADD CONSTRAINT ck_delegation_witnessed CHECK (granted_via = 'online' "
               "OR (witnessed_by IS NOT NULL AND document_ref IS NOT NULL))")


def downgrade() -> None:
    for column in ("document_ref", "hall", "witnessed_by", "granted_via", "starts_at", "actions", "principal_name"):
        op.drop_column("delegation", column, schema=SCHEMA)
    op.execute("ALTER TABLE gateway.delegation DROP CONSTRAINT ck_delegation_witnessed")
    op.execute("ALTER TABLE gateway.delegation DROP CONSTRAINT ck_delegation_principal_kind")
    op.drop_index("ix_delegation_principal_id", "delegation", schema=SCHEMA)
    op.drop_column("delegation", "principal_id", schema=SCHEMA)
    op.drop_column("delegation", "principal_kind", schema=SCHEMA)
    op.drop_table("real_name_verification", schema=SCHEMA)
    op.drop_column("account", "departments", schema=SCHEMA)
    op.drop_column("account", "halls", schema=SCHEMA)
    op.drop_index("uq_account_citizen_id_number", "account", schema=SCHEMA)
    op.create_index("uq_account_citizen_id_number", "account", ["id_number"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("role = 'citizen'"))
    op.execute("ALTER TABLE gateway.account DROP CONSTRAINT ck_account_real_name_level")
    op.execute("UPDATE gateway.account SET real_name_level = 'verified_at_counter' "
               "WHERE real_name_level IN ('verified', 'counter_verified')")
    op.execute("ALTER TABLE gateway.account ADD CONSTRAINT ck_account_real_name_level "
               "CHECK (real_name_level IN ('self_declared', 'verified_at_counter'))")
