"""the models and the migrations agree: the rating level check gets the name the models give it
(0002 named it "ck_rating_level" and the naming convention prefixed it again: ck_rating_ck_rating_level)

The other differences svc-cases' drift test found were on the models' side (the partial indexes
uq_case_partner_case, ix_case_provisional and uq_hotline_ticket_referral, document.content NOT NULL,
the backfill server defaults, payment_code_seq): every deployed database already has them.

Revision ID: 0012_model_drift
Revises: 0011_benefit_licence_type
Create Date: 2026-12-06
"""
from alembic import op

revision = "0012_model_drift"
down_revision = "0011_benefit_licence_type"
branch_labels = None
depends_on = None
S = "cases"


def upgrade() -> None:
    # Raw SQL: op-level names would go through the naming convention again.
    op.execute(f"ALTER TABLE {S}.rating RENAME CONSTRAINT ck_rating_ck_rating_level TO ck_rating_level")


def downgrade() -> None:
    op.execute(f"ALTER TABLE {S}.rating RENAME CONSTRAINT ck_rating_level TO ck_rating_ck_rating_level")
