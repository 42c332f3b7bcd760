"""cases, timeline, case numbers, working-day overrides, item configuration, instant-approval rules,
ratings, remedies, settings, hotline tickets, bundle cases and the bundle read copy;
department, licence type and status on the catalogue read copy

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "cases"
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("catalog_item", sa.Column("department", sa.String(18)), schema=SCHEMA)
    op.add_column("catalog_item", sa.Column("result_licence_type", sa.String(40)), schema=SCHEMA)
    op.add_column("catalog_item", sa.Column("status", sa.String(20), nullable=False, server_default="published"),
                  schema=SCHEMA)

    op.create_table(
        "workday_override",
        sa.Column("on_date", sa.Date, primary_key=True),
        sa.Column("is_workday", sa.Boolean, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "item_config",
        sa.Column("basic_code", sa.String(12), primary_key=True),
        sa.Column("form_fields", postgresql.JSONB, nullable=False),
        sa.Column("department", sa.String(18)),
        sa.Column("result_licence_type", sa.String(40)),
        sa.Column("limit_working_days", sa.Integer),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "approval_rule",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("basic_code", sa.String(12), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("conditions", postgresql.JSONB, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("note", sa.String(500)),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("basic_code", "version", name="uq_approval_rule_basic_code_version"),
        schema=SCHEMA,
    )
    op.create_index("ix_approval_rule_basic_code", "approval_rule", ["basic_code"], schema=SCHEMA)
    op.create_table(
        "case",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("case_number", sa.String(19), nullable=False),
        sa.Column("lookup_code", sa.String(8), nullable=False),
        sa.Column("city_code", sa.String(6), nullable=False),
        sa.Column("basic_code", sa.String(12), nullable=False),
        sa.Column("implementation_code", sa.String(31)),
        sa.Column("item_name", sa.String(200), nullable=False),
        sa.Column("department", sa.String(18), nullable=False),
        sa.Column("result_licence_type", sa.String(40)),
        sa.Column("applicant_type", sa.String(10), nullable=False),
        sa.Column("applicant_id", sa.String(18), nullable=False),
        sa.Column("applicant_name", sa.String(200), nullable=False),
        sa.Column("submitted_by", sa.String(100), nullable=False),
        sa.Column("submitter_role", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("form_data", postgresql.JSONB, nullable=False),
        sa.Column("commitment_signed", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("state_reason", sa.Text),
        sa.Column("limit_days", sa.Integer, nullable=False),
        sa.Column("limit_unit", sa.String(20), nullable=False),
        sa.Column("extension_days", sa.Integer, nullable=False),
        sa.Column("paused_days", sa.Integer, nullable=False),
        sa.Column("received_on", sa.Date),
        sa.Column("paused_since", sa.Date),
        sa.Column("deadline_on", sa.Date),
        sa.Column("warned_at", TZ),
        sa.Column("overdue_at", TZ),
        sa.Column("gaps", postgresql.JSONB),
        sa.Column("gaps_due_on", sa.Date),
        sa.Column("decided_by_rule_version", sa.Integer),
        sa.Column("commitment_approval", sa.Boolean, nullable=False),
        sa.Column("licence_identifier", sa.String(200)),
        sa.Column("decision", sa.String(20)),
        sa.Column("bundle_case_id", postgresql.UUID(as_uuid=True)),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("submitted_at", TZ),
        sa.Column("decided_at", TZ),
        sa.Column("completed_at", TZ),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("case_number", name="uq_case_case_number"),
        schema=SCHEMA,
    )
    for column in ("basic_code", "department", "applicant_id", "state", "deadline_on", "bundle_case_id"):
        op.create_index(f"ix_case_{column}", "case", [column], schema=SCHEMA)
    op.create_table(
        "case_timeline_entry",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", postgresql.UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.case.id", name="fk_case_timeline_entry_case_id_case"), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("from_state", sa.String(30)),
        sa.Column("to_state", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("actor_role", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("detail", postgresql.JSONB),
        sa.Column("at", TZ, server_default=sa.func.now(), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_case_timeline_entry_case_id", "case_timeline_entry", ["case_id"], schema=SCHEMA)
    op.create_table(
        "case_number_sequence",
        sa.Column("city_code", sa.String(6), primary_key=True),
        sa.Column("on_date", sa.Date, primary_key=True),
        sa.Column("last_value", sa.Integer, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "rating",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("case_id", postgresql.UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.case.id", name="fk_rating_case_id_case"), nullable=False),
        sa.Column("basic_code", sa.String(12), nullable=False),
        sa.Column("department", sa.String(18), nullable=False),
        sa.Column("counter", sa.String(100)),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("defaulted", sa.Boolean, nullable=False),
        sa.Column("rated_by", sa.String(100), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("case_id", name="uq_rating_case_id"),
        sa.CheckConstraint("level BETWEEN 1 AND 5", name="ck_rating_level"),
        schema=SCHEMA,
    )
    op.create_index("ix_rating_basic_code", "rating", ["basic_code"], schema=SCHEMA)
    op.create_index("ix_rating_department", "rating", ["department"], schema=SCHEMA)
    op.create_table(
        "remedy",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("rating_id", postgresql.UUID(as_uuid=True),
                  sa.ForeignKey(f"{SCHEMA}.rating.id", name="fk_remedy_rating_id_rating"), nullable=False),
        sa.Column("case_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("department", sa.String(18), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("callback_result", sa.String(20)),
        sa.Column("closed_by", sa.String(100)),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("closed_at", TZ),
        sa.UniqueConstraint("rating_id", name="uq_remedy_rating_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_remedy_department", "remedy", ["department"], schema=SCHEMA)
    op.create_table(
        "setting",
        sa.Column("key", sa.String(60), primary_key=True),
        sa.Column("value", postgresql.JSONB, nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "hotline_ticket",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("ticket_number", sa.String(18), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("citizen_id", sa.String(18)),
        sa.Column("contact_name", sa.String(100), nullable=False),
        sa.Column("contact_phone", sa.String(20)),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("case_id", postgresql.UUID(as_uuid=True)),
        sa.Column("department", sa.String(18)),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("limit_working_days", sa.Integer, nullable=False),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("reply", sa.Text),
        sa.Column("satisfaction", sa.String(20)),
        sa.Column("reopened", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("supervised_at", TZ),
        sa.Column("replied_at", TZ),
        sa.Column("closed_at", TZ),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("ticket_number", name="uq_hotline_ticket_ticket_number"),
        schema=SCHEMA,
    )
    for column in ("citizen_id", "department", "state", "due_on"):
        op.create_index(f"ix_hotline_ticket_{column}", "hotline_ticket", [column], schema=SCHEMA)
    op.create_table(
        "catalog_bundle",
        sa.Column("bundle_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("item_codes", postgresql.JSONB, nullable=False),
        sa.Column("city_code", sa.String(6)),
        sa.Column("synced_at", TZ, server_default=sa.func.now(), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_catalog_bundle_code", "catalog_bundle", ["code"], schema=SCHEMA)
    op.create_table(
        "bundle_case",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("case_number", sa.String(19), nullable=False),
        sa.Column("bundle_code", sa.String(60), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("applicant_type", sa.String(10), nullable=False),
        sa.Column("applicant_id", sa.String(18), nullable=False),
        sa.Column("submitted_by", sa.String(100), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20)),
        sa.Column("outcome_detail", postgresql.JSONB),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("completed_at", TZ),
        sa.UniqueConstraint("case_number", name="uq_bundle_case_case_number"),
        schema=SCHEMA,
    )
    op.create_index("ix_bundle_case_applicant_id", "bundle_case", ["applicant_id"], schema=SCHEMA)


def downgrade() -> None:
    for table in ("bundle_case", "catalog_bundle", "hotline_ticket", "setting", "remedy", "rating",
                  "case_number_sequence", "case_timeline_entry", "case", "approval_rule", "item_config",
                  "workday_override"):
        op.drop_table(table, schema=SCHEMA)
    for column in ("status", "result_licence_type", "department"):
        op.drop_column("catalog_item", column, schema=SCHEMA)
