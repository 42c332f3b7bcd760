"""payment: the catalogue read copy's fees; payment rules, orders (with the 非税缴款码 sequence),
verified provider notifications, approvals held until paid (先审后缴), and daily reconciliations

Revision ID: 0007_payment
Revises: 0006
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_payment"
down_revision = "0006"
branch_labels = None
depends_on = None
SCHEMA = "cases"
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("catalog_implementation", sa.Column("fees", postgresql.JSONB), schema=SCHEMA)
    op.execute(f"CREATE SEQUENCE {SCHEMA}.payment_code_seq")
    op.create_table(
        "payment_rule",
        sa.Column("basic_code", sa.String(12), primary_key=True),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("refund_on_refusal", sa.Boolean, nullable=False),
        sa.Column("refund_on_withdrawal", sa.Boolean, nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        schema=SCHEMA)
    op.create_table(
        "payment_order",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("order_number", sa.String(32), nullable=False),
        sa.Column("case_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("case_number", sa.String(40), nullable=False),
        sa.Column("basic_code", sa.String(12), nullable=False),
        sa.Column("department", sa.String(18)),
        sa.Column("city_code", sa.String(6), nullable=False),
        sa.Column("payment_code", sa.String(20), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("lines", postgresql.JSONB, nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("provider", sa.String(20)),
        sa.Column("provider_transaction_id", sa.String(64)),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("paid_at", TZ),
        sa.Column("paid_on", sa.Date),
        sa.Column("receipt_number", sa.String(30)),
        sa.Column("refund_reason", sa.Text),
        sa.Column("refund_number", sa.String(32)),
        sa.Column("refunded_at", TZ),
        sa.Column("last_queried_at", TZ),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("order_number", name="uq_payment_order_order_number"),
        sa.UniqueConstraint("case_id", name="uq_payment_order_case_id"),
        sa.UniqueConstraint("payment_code", name="uq_payment_order_payment_code"),
        schema=SCHEMA)
    op.create_index("ix_payment_order_department", "payment_order", ["department"], schema=SCHEMA)
    op.create_index("ix_payment_order_state", "payment_order", ["state"], schema=SCHEMA)
    op.create_index("ix_payment_order_paid_on", "payment_order", ["paid_on"], schema=SCHEMA)
    op.create_table(
        "payment_notification",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("notification_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("order_number", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("received_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("provider", "nonce", name="uq_payment_notification_provider_nonce"),
        schema=SCHEMA)
    op.create_index("ix_payment_notification_order_number", "payment_notification", ["order_number"], schema=SCHEMA)
    op.create_table(
        "payment_held_event",
        sa.Column("case_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("envelope", postgresql.JSONB, nullable=False),
        sa.Column("held_at", TZ, server_default=sa.func.now(), nullable=False),
        schema=SCHEMA)
    op.create_table(
        "payment_reconciliation",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("on_date", sa.Date, nullable=False),
        sa.Column("matched", sa.Integer, nullable=False),
        sa.Column("mismatches", postgresql.JSONB, nullable=False),
        sa.Column("run_by", sa.String(100), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        schema=SCHEMA)
    op.create_index("ix_payment_reconciliation_on_date", "payment_reconciliation", ["on_date"], schema=SCHEMA)


def downgrade() -> None:
    for table in ("payment_reconciliation", "payment_held_event", "payment_notification", "payment_order",
                  "payment_rule"):
        op.drop_table(table, schema=SCHEMA)
    op.execute(f"DROP SEQUENCE {SCHEMA}.payment_code_seq")
    op.drop_column("catalog_implementation", "fees", schema=SCHEMA)
