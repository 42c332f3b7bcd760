"""partners and their keys, our signing keys, the hash-chained message log, nonces, outbound
messages, forwarded cases, referrals, the cross-city item copy

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
SCHEMA = "interop"
TS = sa.DateTime(timezone=True)
NOW = sa.func.now()
JSONB = postgresql.JSONB
UUID = postgresql.UUID(as_uuid=True)
EMPTY_ARRAY = sa.text("'{}'")


def upgrade() -> None:
    op.create_table(
        "signing_key",
        sa.Column("kid", sa.String(100), primary_key=True),
        sa.Column("public_key", sa.String(100), nullable=False),
        sa.Column("private_pem", sa.Text, nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("retired_at", TS),
        schema=SCHEMA)
    op.create_table(
        "partner",
        sa.Column("region_code", sa.String(6), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=False),
        sa.Column("token_url", sa.String(500)),
        sa.Column("client_id", sa.String(100)),
        sa.Column("services", postgresql.ARRAY(sa.String(40)), server_default=EMPTY_ARRAY, nullable=False),
        sa.Column("items", postgresql.ARRAY(sa.String(20)), server_default=EMPTY_ARRAY, nullable=False),
        sa.Column("contacts", JSONB, server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("status", sa.String(20), server_default="active", nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.CheckConstraint("region_code ~ '^[0-9]{6}$'", name="region_code_digits"),
        schema=SCHEMA)
    op.create_table(
        "partner_key",
        sa.Column("region_code", sa.String(6), sa.ForeignKey(f"{SCHEMA}.partner.region_code", ondelete="CASCADE",
                                                             name="fk_partner_key_region_code_partner"),
                  primary_key=True),
        sa.Column("kid", sa.String(100), primary_key=True),
        sa.Column("public_key", sa.String(100), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("revoked_at", TS),
        schema=SCHEMA)
    op.create_table(
        "message_log",
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("partner", sa.String(6)),
        sa.Column("message_id", sa.String(100)),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("request_headers", JSONB, nullable=False),
        sa.Column("request_body", sa.LargeBinary, nullable=False),
        sa.Column("response_status", sa.Integer),
        sa.Column("response_headers", JSONB, nullable=False),
        sa.Column("response_body", sa.LargeBinary, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        schema=SCHEMA)
    op.create_index("ix_message_log_message_id", "message_log", ["message_id"], schema=SCHEMA)
    # Append-only: the service itself cannot change or remove a row; the hash chain catches
    # whoever gets around this (a superuser, a restored backup).
    op.execute(f"""
        CREATE FUNCTION {SCHEMA}.message_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'message_log is append-only (% refused)', TG_OP;
        END $$""")
    op.execute(f"""
        CREATE TRIGGER message_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {SCHEMA}.message_log
            FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.message_log_append_only();
    """)
    op.create_table(
        "nonce",
        sa.Column("partner", sa.String(6), primary_key=True),
        sa.Column("nonce", sa.String(200), primary_key=True),
        sa.Column("expires_at", TS, nullable=False),
        schema=SCHEMA)
    op.create_index("ix_nonce_expires_at", "nonce", ["expires_at"], schema=SCHEMA)
    op.create_table(
        "outbound_message",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("partner", sa.String(6), nullable=False),
        sa.Column("message_type", sa.String(40), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("body", JSONB),
        sa.Column("on_behalf_of", sa.String(40)),
        sa.Column("case_number", sa.String(60)),
        sa.Column("subject_id", sa.String(100)),
        sa.Column("state", sa.String(20), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer, server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", TS, server_default=NOW, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("response_status", sa.Integer),
        sa.Column("response_body", JSONB),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("delivered_at", TS),
        schema=SCHEMA)
    op.create_index("ix_outbound_message_due", "outbound_message", ["next_attempt_at"], schema=SCHEMA,
                    postgresql_where=sa.text("state = 'pending'"))
    op.execute(f"CREATE SEQUENCE {SCHEMA}.reference_number_seq")
    def case_columns() -> list[sa.Column]:
        return [
            sa.Column("id", UUID, primary_key=True),
            sa.Column("case_number", sa.String(60), nullable=False, unique=True),
            sa.Column("partner", sa.String(6), nullable=False, index=True),
            sa.Column("item_code", sa.String(20), nullable=False),
            sa.Column("applicant_id_number", sa.String(18), nullable=False, index=True),
            sa.Column("applicant_name", sa.String(100), nullable=False),
            sa.Column("form", JSONB, server_default=sa.text("'{}'::jsonb"), nullable=False),
        ]
    op.create_table(
        "outgoing_case", *case_columns(),
        sa.Column("status", sa.String(30), server_default="forwarding", nullable=False),
        sa.Column("remote_case_number", sa.String(60)),
        sa.Column("progress", JSONB, server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        schema=SCHEMA)
    op.create_table(
        "incoming_case", *case_columns(),
        sa.Column("partner_case_ref", sa.String(100), nullable=False),
        sa.Column("partner_case_number", sa.String(60), nullable=False),
        sa.Column("status", sa.String(30), server_default="received", nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.UniqueConstraint("partner", "partner_case_ref", name="uq_incoming_case_partner_partner_case_ref"),
        schema=SCHEMA)
    op.create_table(
        "referral",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("reference_number", sa.String(60), nullable=False, unique=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("partner", sa.String(6), nullable=False, index=True),
        sa.Column("partner_ref", sa.String(100), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.UniqueConstraint("partner", "direction", "kind", "partner_ref",
                            name="uq_referral_partner_direction_kind_partner_ref"),
        schema=SCHEMA)
    op.create_table(
        "cross_city_item",
        sa.Column("item_id", UUID, primary_key=True),
        sa.Column("basic_code", sa.String(20), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("case_type", sa.String(20)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("cross_city", sa.Boolean, server_default=sa.false(), nullable=False),
        sa.Column("retired", sa.Boolean, server_default=sa.false(), nullable=False),
        sa.Column("synced_at", TS, server_default=NOW, nullable=False),
        schema=SCHEMA)


def downgrade() -> None:
    for table in ("cross_city_item", "referral", "incoming_case", "outgoing_case", "outbound_message", "nonce",
                  "message_log", "partner_key", "partner", "signing_key"):
        op.drop_table(table, schema=SCHEMA)
    op.execute(f"DROP SEQUENCE {SCHEMA}.reference_number_seq")
    op.execute(f"DROP FUNCTION {SCHEMA}.message_log_append_only()")
