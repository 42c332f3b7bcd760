"""company migrations ride on forwarded cases (kind, svc-cases' own case on the sending side);
hotline referrals keep the partner's progress

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
SCHEMA = "interop"
TS = sa.DateTime(timezone=True)
UUID = postgresql.UUID(as_uuid=True)
JSONB = postgresql.JSONB


def upgrade() -> None:
    for table in ("outgoing_case", "incoming_case"):
        op.add_column(table, sa.Column("kind", sa.String(30), nullable=False, server_default="case"), schema=SCHEMA)
    # A company's move-out is svc-cases' case (approved there); the outgoing record points at it.
    op.add_column("outgoing_case", sa.Column("local_case_id", UUID, nullable=True), schema=SCHEMA)
    op.add_column("outgoing_case", sa.Column("local_case_number", sa.String(60), nullable=True), schema=SCHEMA)
    op.create_index("ix_outgoing_case_local_case_id", "outgoing_case", ["local_case_id"], unique=True, schema=SCHEMA)
    op.add_column("referral", sa.Column("progress", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
                  schema=SCHEMA)
    op.add_column("referral", sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
                  schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("referral", "updated_at", schema=SCHEMA)
    op.drop_column("referral", "progress", schema=SCHEMA)
    op.drop_index("ix_outgoing_case_local_case_id", "outgoing_case", schema=SCHEMA)
    op.drop_column("outgoing_case", "local_case_number", schema=SCHEMA)
    op.drop_column("outgoing_case", "local_case_id", schema=SCHEMA)
    for table in ("incoming_case", "outgoing_case"):
        op.drop_column(table, "kind", schema=SCHEMA)
