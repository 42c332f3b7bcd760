"""a version of the partner registry, bumped by every change of a partner or its keys

The exchange edge keeps each partner and its parsed keys in memory; the version, read in the
same statement that claims a message's nonce, tells every process (replicas, the worker) that
its copy is stale: a revoked key or a suspended partner is refused by the next message.

The ledger's head (its last entry's seq and hash) in a row of its own, moved by a trigger on
every append: an append locks and reads it in one statement (it took an advisory lock and then
read the log's last entry).

Revision ID: 0006_interop_hot
Revises: 0005
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_interop_hot"
down_revision = "0005"
branch_labels = None
depends_on = None
SCHEMA = "interop"


def upgrade() -> None:
    op.create_table("partner_version", sa.Column("id", sa.SmallInteger, primary_key=True),
                    sa.Column("version", sa.BigInteger, nullable=False),
                    sa.CheckConstraint("id = 1", name="partner_version_one_row"), schema=SCHEMA)
    op.execute(f"INSERT INTO {SCHEMA}.partner_version (id, version) VALUES (1, 0)")
    op.execute(f"""
        CREATE FUNCTION {SCHEMA}.bump_partner_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE {SCHEMA}.partner_version SET version = version + 1 WHERE id = 1;
            RETURN NULL;
        END $$""")
    for table in ("partner", "partner_key"):
        op.execute(f"""CREATE TRIGGER {table}_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
                       ON {SCHEMA}.{table} FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.bump_partner_version()""")


    op.create_table("message_log_head", sa.Column("id", sa.SmallInteger, primary_key=True),
                    sa.Column("seq", sa.BigInteger, nullable=False), sa.Column("hash", sa.String(64), nullable=False),
                    sa.CheckConstraint("id = 1", name="message_log_head_one_row"), schema=SCHEMA)
    op.execute(f"""INSERT INTO {SCHEMA}.message_log_head (id, seq, hash)
                   SELECT 1, coalesce(max(seq), 0),
                          coalesce((SELECT hash FROM {SCHEMA}.message_log ORDER BY seq DESC LIMIT 1), repeat('0', 64))
                   FROM {SCHEMA}.message_log""")
    op.execute(f"""
        CREATE FUNCTION {SCHEMA}.message_log_move_head() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE {SCHEMA}.message_log_head h SET seq = last.seq, hash = last.hash
            FROM (SELECT seq, hash FROM appended ORDER BY seq DESC LIMIT 1) last
            WHERE h.id = 1 AND last.seq > h.seq;
            RETURN NULL;
        END $$""")
    op.execute(f"""CREATE TRIGGER message_log_move_head AFTER INSERT ON {SCHEMA}.message_log
                   REFERENCING NEW TABLE AS appended FOR EACH STATEMENT
                   EXECUTE FUNCTION {SCHEMA}.message_log_move_head()""")


def downgrade() -> None:
    op.execute(f"DROP TRIGGER message_log_move_head ON {SCHEMA}.message_log")
    op.execute(f"DROP FUNCTION {SCHEMA}.message_log_move_head()")
    op.drop_table("message_log_head", schema=SCHEMA)
    for table in ("partner", "partner_key"):
        op.execute(f"DROP TRIGGER {table}_version ON {SCHEMA}.{table}")
    op.execute(f"DROP FUNCTION {SCHEMA}.bump_partner_version()")
    op.drop_table("partner_version", schema=SCHEMA)
