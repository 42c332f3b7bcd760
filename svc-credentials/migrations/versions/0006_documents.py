"""sealed notices and decisions (department document seals, their certificates, what they sealed)
and licence picture templates on licence types

Revision ID: 0006_documents
Revises: 0005
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0006_documents"
down_revision = "0005"
branch_labels = None
depends_on = None
S = "credentials"


def upgrade() -> None:
    # A department's document seal is a seal of kind `department`, keyed by its credit code.
    op.drop_constraint(op.f("ck_seal_kind"), "seal", schema=S, type_="check")
    op.create_check_constraint("kind", "seal", "kind IN ('legal_name', 'finance', 'contract', 'invoice', "
                               "'department')", schema=S)
    op.create_table(
        "seal_certificate",
        sa.Column("seal_id", UUID(as_uuid=True), sa.ForeignKey(f"{S}.seal.id"), primary_key=True),
        sa.Column("certificate", sa.LargeBinary, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S)
    op.create_table(
        "sealed_document",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("seal_id", UUID(as_uuid=True), sa.ForeignKey(f"{S}.seal.id"), nullable=False, index=True),
        sa.Column("seal_use_id", sa.BigInteger, sa.ForeignKey(f"{S}.seal_use.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(60), nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=False),
        sa.Column("sealed_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        schema=S)
    op.add_column("licence_type", sa.Column("template", JSONB), schema=S)


def downgrade() -> None:
    op.drop_column("licence_type", "template", schema=S)
    op.drop_table("sealed_document", schema=S)
    op.drop_table("seal_certificate", schema=S)
    op.drop_constraint(op.f("ck_seal_kind"), "seal", schema=S, type_="check")
    op.create_check_constraint("kind", "seal", "kind IN ('legal_name', 'finance', 'contract', 'invoice')", schema=S)
