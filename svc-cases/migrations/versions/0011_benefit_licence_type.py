"""benefit licences by holder and type: a licence's status change asks whether the holder still
has a valid one of that type with one index probe, not by reading every licence the holder has

Revision ID: 0011_benefit_licence_type
Revises: 0010_benefit_match
Create Date: 2026-12-06
"""
from alembic import op

revision = "0011_benefit_licence_type"
down_revision = "0010_benefit_match"
branch_labels = None
depends_on = None
S = "cases"


def upgrade() -> None:
    op.create_index("ix_benefit_licence_holder_type", "benefit_licence", ["holder_id", "type_code"], schema=S)
    op.drop_index("ix_benefit_licence_holder_id", table_name="benefit_licence", schema=S)


def downgrade() -> None:
    op.create_index("ix_benefit_licence_holder_id", "benefit_licence", ["holder_id"], schema=S)
    op.drop_index("ix_benefit_licence_holder_type", table_name="benefit_licence", schema=S)
