"""company e-seals (seals, delegations, uses, registration items), trust list, licence-type mapping

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
S = "credentials"
# The demo catalogue's 企业设立登记 (svc-catalog seed): its approval registers a company.
COMPANY_REGISTRATION_ITEMS = [("440100100000", "企业设立登记")]


def _ts(name: str, nullable: bool = False, default: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if default else None)


def upgrade() -> None:
    item = op.create_table(
        "registration_item",
        sa.Column("basic_code", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False, server_default="system:migration"),
        _ts("created_at"),
        schema=S)
    op.bulk_insert(item, [{"basic_code": c, "name": n} for c, n in COMPANY_REGISTRATION_ITEMS])
    op.create_table(
        "seal",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("company_code", sa.String(18), nullable=False),
        sa.Column("company_name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("name", sa.String(220), nullable=False),
        sa.Column("kid", sa.String(64), nullable=False, unique=True),
        sa.Column("algorithm", sa.String(10), nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("source", sa.String(12), nullable=False),
        sa.Column("source_case_id", UUID(as_uuid=True)),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at"), _ts("revoked_at", nullable=True, default=False),
        sa.Column("revoked_reason", sa.String(500)),
        sa.CheckConstraint("kind IN ('legal_name', 'finance', 'contract', 'invoice')", name="kind"),
        sa.CheckConstraint("status IN ('active', 'revoked')", name="status"),
        sa.CheckConstraint("algorithm IN ('Ed25519', 'SM2')", name="algorithm"),
        sa.UniqueConstraint("source_case_id", "kind", name="uq_seal_source_case_id_kind"),
        schema=S)
    # One active seal of each kind per company; revoked ones stay for verifying what they sealed.
    op.create_index("uq_seal_active_kind", "seal", ["company_code", "kind"], unique=True, schema=S,
                    postgresql_where=sa.text("status = 'active'"))
    op.create_table(
        "seal_delegation",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("seal_id", UUID(as_uuid=True), sa.ForeignKey(f"{S}.seal.id"), nullable=False),
        sa.Column("grantee_sub", sa.String(200), nullable=False),
        sa.Column("grantee_name", sa.String(100), nullable=False),
        sa.Column("granted_by", sa.String(200), nullable=False),
        _ts("expires_at", default=False), _ts("created_at"), _ts("revoked_at", nullable=True, default=False),
        sa.Column("revoked_reason", sa.String(500)),
        schema=S)
    op.create_index("ix_seal_delegation_seal_grantee", "seal_delegation", ["seal_id", "grantee_sub"], schema=S)
    op.create_table(
        "seal_use",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("seal_id", UUID(as_uuid=True), sa.ForeignKey(f"{S}.seal.id"), nullable=False),
        sa.Column("company_code", sa.String(18), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_name", sa.String(200)),
        sa.Column("delegation_id", UUID(as_uuid=True)),
        sa.Column("hash_algorithm", sa.String(8), nullable=False),
        sa.Column("document_hash", sa.String(64), nullable=False),
        sa.Column("document_name", sa.String(200)),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("refusal", sa.String(40)),
        sa.Column("signature", sa.String(200)),
        _ts("at"),
        sa.CheckConstraint("outcome IN ('applied', 'refused')", name="outcome"),
        schema=S)
    op.create_index("ix_seal_use_company", "seal_use", ["company_code", "at"], schema=S)
    op.create_index("ix_seal_use_seal", "seal_use", ["seal_id", "at"], schema=S)
    op.create_table(
        "trusted_region",
        sa.Column("region_code", sa.String(6), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        _ts("created_at"), _ts("updated_at"),
        schema=S)
    op.create_table(
        "trusted_key",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("region_code", sa.String(6), sa.ForeignKey(f"{S}.trusted_region.region_code"), nullable=False),
        sa.Column("issuer_code", sa.String(18), nullable=False),
        sa.Column("algorithm", sa.String(10), nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        _ts("created_at"), _ts("retired_at", nullable=True, default=False),
        sa.CheckConstraint("algorithm IN ('Ed25519', 'SM2')", name="algorithm"),
        schema=S)
    op.create_index("ix_trusted_key_region_code", "trusted_key", ["region_code"], schema=S)
    op.create_table(
        "licence_type_mapping",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("partner_type_code", sa.String(40), nullable=False),
        sa.Column("partner_type_name", sa.String(200), nullable=False),
        sa.Column("our_type_code", sa.String(40), nullable=False),
        sa.Column("note", sa.String(500)),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("region_code", "partner_type_code", "our_type_code",
                            name="uq_licence_type_mapping_pair"),
        schema=S)
    op.create_index("ix_licence_type_mapping_our_type_code", "licence_type_mapping", ["our_type_code"], schema=S)


def downgrade() -> None:
    for table in ("licence_type_mapping", "trusted_key", "trusted_region", "seal_use", "seal_delegation", "seal",
                  "registration_item"):
        op.drop_table(table, schema=S)
