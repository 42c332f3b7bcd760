"""Search forgives: each item's title and search keys also hold the pairs of consecutive pinyin
syllables of its name and aliases (`py:yingye`, ...), so full pinyin (`yingyezhizhao`, also typed
with spaces) finds it. Existing items get them here; every later write computes them.

Revision ID: 0005_forgiving_search
Revises: 0004
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_forgiving_search"
down_revision = "0004"
branch_labels = None
depends_on = None
SCHEMA = "catalog"


def upgrade() -> None:
    # The same function the service uses on every write (a pure function of the texts).
    from tongban.catalog.search.text import pinyin_keys

    conn = op.get_bind()
    update = sa.text(f"UPDATE {SCHEMA}.item SET title_tokens = :t, search_tokens = :s WHERE id = :id").bindparams(
        sa.bindparam("t", type_=postgresql.ARRAY(sa.Text)), sa.bindparam("s", type_=postgresql.ARRAY(sa.Text)))
    rows = conn.execute(sa.text(f"SELECT id, name, aliases, title_tokens, search_tokens FROM {SCHEMA}.item")).all()
    for row in rows:
        keys = pinyin_keys([row.name, *(row.aliases or [])])
        conn.execute(update, {"id": row.id, "t": sorted({*(row.title_tokens or []), *keys}),
                              "s": sorted({*(row.search_tokens or []), *keys})})


def downgrade() -> None:
    op.execute(f"UPDATE {SCHEMA}.item SET title_tokens = ARRAY(SELECT t FROM unnest(title_tokens) t "
               "WHERE t NOT LIKE 'py:%'), search_tokens = ARRAY(SELECT t FROM unnest(search_tokens) t "
               "WHERE t NOT LIKE 'py:%')")
