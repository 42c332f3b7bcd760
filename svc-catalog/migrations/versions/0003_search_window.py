"""Search: title tokens (name and aliases) for the first ranking tier, a name-length index for
filter-only searches, and the search generation that validates cached answers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
SCHEMA = "catalog"


def upgrade() -> None:
    op.add_column("item", sa.Column("title_tokens", postgresql.ARRAY(sa.Text), server_default=sa.text("'{}'"),
                                    nullable=False), schema=SCHEMA)
    # Rows written before this revision: their title tokens are computed by the same function the
    # service uses on every write (a pure function of the texts, so importing it here is safe).
    from tongban.catalog.search.text import tokens

    conn = op.get_bind()
    rows = conn.execute(sa.text(f"SELECT id, name, aliases FROM {SCHEMA}.item")).all()
    for row in rows:
        conn.execute(sa.text(f"UPDATE {SCHEMA}.item SET title_tokens = :t WHERE id = :id"),
                     {"t": tokens([row.name, *(row.aliases or [])]), "id": row.id})
    op.create_index("ix_item_title_tokens", "item", ["title_tokens"], postgresql_using="gin", schema=SCHEMA)
    op.create_table("search_generation", sa.Column("id", sa.SmallInteger, primary_key=True),
                    sa.Column("n", sa.BigInteger, nullable=False, server_default="0"), schema=SCHEMA)
    op.execute(f"INSERT INTO {SCHEMA}.search_generation (id, n) VALUES (1, 0)")
    op.execute(f"CREATE INDEX ix_item_published_name_length ON {SCHEMA}.item (char_length(name), basic_code) "
               "WHERE status = 'published'")


def downgrade() -> None:
    op.execute(f"DROP INDEX {SCHEMA}.ix_item_published_name_length")
    op.drop_table("search_generation", schema=SCHEMA)
    op.drop_index("ix_item_title_tokens", "item", schema=SCHEMA)
    op.drop_column("item", "title_tokens", schema=SCHEMA)
