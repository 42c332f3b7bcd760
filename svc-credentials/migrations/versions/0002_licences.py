"""issuers, signing keys, licence types, licences, status lists, presentations, consents, licence uses

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
S = "credentials"


def _ts(name: str, nullable: bool = False, default: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=sa.func.now() if default else None)


def upgrade() -> None:
    op.execute(f"CREATE SEQUENCE {S}.licence_serial START WITH 100000001")
    op.create_table(
        "issuer",
        sa.Column("code", sa.String(18), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("algorithm", sa.String(10), nullable=False),
        _ts("created_at"), _ts("updated_at"),
        sa.CheckConstraint("algorithm IN ('Ed25519', 'SM2')", name="algorithm"),
        schema=S)
    op.create_table(
        "signing_key",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("issuer_code", sa.String(18), sa.ForeignKey(f"{S}.issuer.code"), nullable=False),
        sa.Column("algorithm", sa.String(10), nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        _ts("created_at"), _ts("retired_at", nullable=True, default=False),
        schema=S)
    op.create_index("ix_signing_key_issuer_code", "signing_key", ["issuer_code"], schema=S)
    op.create_table(
        "licence_type",
        sa.Column("code", sa.String(21), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("issuer_code", sa.String(18), sa.ForeignKey(f"{S}.issuer.code"), nullable=False),
        sa.Column("holder_type", sa.String(3), nullable=False),
        sa.Column("fields", JSONB, nullable=False),
        sa.Column("validity", sa.String(10), nullable=False),
        sa.Column("validity_years", sa.Integer),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at"), _ts("updated_at"),
        sa.CheckConstraint("holder_type IN ('111', '001')", name="holder_type"),
        schema=S)
    op.create_index("ix_licence_type_issuer_code", "licence_type", ["issuer_code"], schema=S)
    op.create_table(
        "status_list",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("allocated", sa.Integer, nullable=False),
        _ts("created_at"),
        schema=S)
    op.create_table(
        "licence",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("identifier", sa.String(80), nullable=False, unique=True),
        sa.Column("type_code", sa.String(21), sa.ForeignKey(f"{S}.licence_type.code"), nullable=False),
        sa.Column("issuer_code", sa.String(18), sa.ForeignKey(f"{S}.issuer.code"), nullable=False),
        sa.Column("serial", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("holder_type", sa.String(3), nullable=False),
        sa.Column("holder_id", sa.String(18), nullable=False),
        sa.Column("holder_name", sa.String(200), nullable=False),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_until", sa.Date),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("status_reason", sa.Text),
        _ts("status_changed_at", nullable=True, default=False),
        sa.Column("superseded_by", UUID(as_uuid=True)),
        sa.Column("kid", sa.String(64), sa.ForeignKey(f"{S}.signing_key.kid"), nullable=False),
        sa.Column("algorithm", sa.String(10), nullable=False),
        sa.Column("signature", sa.String(200), nullable=False),
        sa.Column("status_list_id", sa.Integer, sa.ForeignKey(f"{S}.status_list.id"), nullable=False),
        sa.Column("status_index", sa.Integer, nullable=False),
        sa.Column("source_case_id", UUID(as_uuid=True), unique=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at"), _ts("updated_at"),
        sa.UniqueConstraint("status_list_id", "status_index", name="uq_licence_status_list_id_status_index"),
        sa.UniqueConstraint("serial", "version", name="uq_licence_serial_version"),
        sa.CheckConstraint("status IN ('valid', 'suspended', 'revoked', 'superseded')", name="status"),
        schema=S)
    op.create_index("ix_licence_holder", "licence", ["holder_id", "issued_at", "id"], schema=S)
    op.create_index("ix_licence_type_code", "licence", ["type_code"], schema=S)
    op.create_table(
        "presentation",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("licence_id", UUID(as_uuid=True), sa.ForeignKey(f"{S}.licence.id"), nullable=False),
        sa.Column("fields", ARRAY(sa.String(64)), nullable=False),
        sa.Column("single_use", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at"), _ts("expires_at", default=False), _ts("used_at", nullable=True, default=False),
        schema=S)
    op.create_index("ix_presentation_licence_id", "presentation", ["licence_id"], schema=S)
    op.create_table(
        "consent",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("holder_type", sa.String(3), nullable=False),
        sa.Column("holder_id", sa.String(18), nullable=False),
        sa.Column("licence_type_code", sa.String(21), nullable=False),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("department", sa.String(18)),
        _ts("expires_at", default=False), _ts("created_at"), _ts("revoked_at", nullable=True, default=False),
        schema=S)
    op.create_index("ix_consent_lookup", "consent", ["holder_id", "licence_type_code", "case_id"], schema=S)
    op.create_table(
        "licence_use",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("holder_id", sa.String(18), nullable=False),
        sa.Column("licence_type_code", sa.String(21), nullable=False),
        sa.Column("licence_identifier", sa.String(80)),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("consent_id", UUID(as_uuid=True)),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("department", sa.String(18)),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("refusal", sa.String(40)),
        _ts("at"),
        schema=S)
    op.create_index("ix_licence_use_holder", "licence_use", ["holder_id", "at"], schema=S)


def downgrade() -> None:
    for table in ("licence_use", "consent", "presentation", "licence", "status_list", "licence_type",
                  "signing_key", "issuer"):
        op.drop_table(table, schema=S)
    op.execute(f"DROP SEQUENCE {S}.licence_serial")
