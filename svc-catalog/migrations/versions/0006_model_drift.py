"""item.item_type NOT NULL, as the model has it: a substring of the basic code (never null), computed
since 0002 without the constraint

Revision ID: 0006_model_drift
Revises: 0005_forgiving_search
Create Date: 2026-12-06
"""
from alembic import op

revision = "0006_model_drift"
down_revision = "0005_forgiving_search"
branch_labels = None
depends_on = None
SCHEMA = "catalog"


def upgrade() -> None:
    op.execute(f"ALTER TABLE {SCHEMA}.item ALTER COLUMN item_type SET NOT NULL")


def downgrade() -> None:
    op.execute(f"ALTER TABLE {SCHEMA}.item ALTER COLUMN item_type DROP NOT NULL")
