"""notices and decisions issued on cases, sealed by the department at svc-credentials

Revision ID: 0009_documents
Revises: 0008_benefit_credit
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0009_documents"
down_revision = "0008_benefit_credit"
branch_labels = None
depends_on = None
S = "cases"


def upgrade() -> None:
    op.create_table(
        "case_document",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), sa.ForeignKey(f"{S}.case.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("facts", JSONB, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("failure", sa.Text),
        sa.Column("pdf", sa.LargeBinary),
        sa.Column("sha256", sa.String(64)),
        sa.Column("seal_id", UUID(as_uuid=True)),
        sa.Column("seal_name", sa.String(220)),
        sa.Column("seal_use_id", sa.BigInteger),
        sa.Column("sealed_at", sa.DateTime(timezone=True)),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=S)


def downgrade() -> None:
    op.drop_table("case_document", schema=S)
