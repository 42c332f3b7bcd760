"""forwarded cases (partner region and case number), gaps reminders, the document store and
case materials (uploaded files and licence-backed materials)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
SCHEMA = "cases"
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("case", sa.Column("partner_region", sa.String(6)), schema=SCHEMA)
    op.add_column("case", sa.Column("partner_case_number", sa.String(40)), schema=SCHEMA)
    op.add_column("case", sa.Column("gaps_reminded_at", TZ), schema=SCHEMA)
    # One case per partner case, whatever message ids the partner uses.
    op.create_index("uq_case_partner_case", "case", ["partner_region", "partner_case_number"], unique=True,
                    schema=SCHEMA, postgresql_where=sa.text("partner_region IS NOT NULL"))
    op.create_table(
        "document",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("uploaded_by", sa.String(100), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("mime_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("case_id", postgresql.UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.case.id")),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_document_case_id", "document", ["case_id"], schema=SCHEMA)
    op.create_table(
        "case_material",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", postgresql.UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.case.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),               # upload | licence
        sa.Column("document_id", postgresql.UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.document.id")),
        sa.Column("licence_type_code", sa.String(40)),
        sa.Column("licence_identifier", sa.String(200)),
        sa.Column("consent_id", postgresql.UUID(as_uuid=True)),
        sa.Column("use_id", sa.Integer),
        sa.Column("verification", sa.String(30)),
        sa.Column("added_by", sa.String(100), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_case_material_case_id", "case_material", ["case_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("case_material", schema=SCHEMA)
    op.drop_table("document", schema=SCHEMA)
    op.drop_index("uq_case_partner_case", "case", schema=SCHEMA)
    for column in ("gaps_reminded_at", "partner_case_number", "partner_region"):
        op.drop_column("case", column, schema=SCHEMA)
