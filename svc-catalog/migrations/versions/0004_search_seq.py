"""Search: each item carries the search generation of its last write (`search_seq`), so a
replica's in-process search index reads only what changed since the generation it holds

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
SCHEMA = "catalog"


def upgrade() -> None:
    op.add_column("item", sa.Column("search_seq", sa.BigInteger, server_default="0", nullable=False), schema=SCHEMA)
    op.create_index("ix_item_search_seq", "item", ["search_seq"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_item_search_seq", "item", schema=SCHEMA)
    op.drop_column("item", "search_seq", schema=SCHEMA)
