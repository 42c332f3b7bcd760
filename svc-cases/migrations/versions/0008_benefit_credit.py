"""benefit policies (免申即享 / 即申即享) with their facts and grants; credit records, list entries
and the follow-up checks of commitments (告知承诺制)

Revision ID: 0008_benefit_credit
Revises: 0007_payment
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0008_benefit_credit"
down_revision = "0007_payment"
branch_labels = None
depends_on = None
SCHEMA = "cases"
NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "benefit_policy",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("subject_type", sa.String(10), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("basic_code", sa.String(12), nullable=False),
        sa.Column("city_code", sa.String(6), nullable=False),
        sa.Column("department", sa.String(18), nullable=False, index=True),
        sa.Column("eligibility", JSONB, nullable=False),
        sa.Column("definitions", JSONB, nullable=False),
        sa.Column("amount_rule", JSONB, nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("budget_total", sa.BigInteger, nullable=False),
        sa.Column("budget_used", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(12), nullable=False, index=True),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        # The budget is never exceeded, whatever the concurrency: the database says so too.
        sa.CheckConstraint("budget_used >= 0 AND budget_used <= budget_total", name="budget_within_total"),
        schema=SCHEMA)
    op.create_table(
        "benefit_subject",
        sa.Column("subject_id", sa.String(18), primary_key=True),
        sa.Column("subject_type", sa.String(10), nullable=False, index=True),
        sa.Column("name", sa.String(200)),
        sa.Column("facts", JSONB, nullable=False),
        sa.Column("sources", JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        schema=SCHEMA)
    op.create_table(
        "benefit_licence",
        sa.Column("licence_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("holder_id", sa.String(18), nullable=False, index=True),
        sa.Column("type_code", sa.String(40), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        schema=SCHEMA)
    op.create_table(
        "benefit_grant",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("policy_id", UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.benefit_policy.id"), nullable=False,
                  index=True),
        sa.Column("subject_id", sa.String(18), nullable=False, index=True),
        sa.Column("subject_type", sa.String(10), nullable=False),
        sa.Column("basic_code", sa.String(12), nullable=False),
        sa.Column("department", sa.String(18), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False),
        sa.Column("matched", JSONB, nullable=False),
        sa.Column("bank_name", sa.String(60)),
        sa.Column("bank_account", sa.String(34)),
        sa.Column("account_given_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.UniqueConstraint("policy_id", "subject_id"),
        schema=SCHEMA)
    op.create_table(
        "credit_record",
        sa.Column("subject_id", sa.String(18), primary_key=True),
        sa.Column("subject_type", sa.String(10), nullable=False),
        sa.Column("level", sa.String(1), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA)
    op.create_table(
        "credit_list_entry",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("subject_id", sa.String(18), nullable=False, index=True),
        sa.Column("list", sa.String(5), nullable=False),
        sa.Column("source", sa.String(60), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("listed_on", sa.Date, nullable=False),
        sa.Column("until", sa.Date),
        sa.Column("case_id", UUID(as_uuid=True)),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        schema=SCHEMA)
    op.create_table(
        "commitment_check",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("case_number", sa.String(19), nullable=False),
        sa.Column("subject_id", sa.String(18), nullable=False, index=True),
        sa.Column("department", sa.String(18), nullable=False, index=True),
        sa.Column("due_on", sa.Date, nullable=False, index=True),
        sa.Column("state", sa.String(10), nullable=False, index=True),
        sa.Column("outcome_reason", sa.Text),
        sa.Column("checked_by", sa.String(100)),
        sa.Column("checked_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        schema=SCHEMA)


def downgrade() -> None:
    for table in ("commitment_check", "credit_list_entry", "credit_record", "benefit_grant", "benefit_licence",
                  "benefit_subject", "benefit_policy"):
        op.drop_table(table, schema=SCHEMA)
