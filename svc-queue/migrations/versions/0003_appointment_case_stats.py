"""appointment draft case, published hall statistics

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

An appointment may name the draft case the person prefilled in the mini-program (its check-in
ticket carries it to the counter). `hall_stats_published` remembers the last statistics event
of each hall and day, so the minute-by-minute publication sends only what changed. A clerk is
signed in to one counter at a time.
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
SCHEMA = "queue"


def upgrade() -> None:
    op.add_column("appointment", sa.Column("case_id", sa.String(length=64), nullable=True), schema=SCHEMA)
    op.create_table(
        "hall_stats_published",
        sa.Column("hall_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["hall_id"], [f"{SCHEMA}.hall.id"], name=op.f("fk_hall_stats_published_hall_id_hall"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("hall_id", "day", name=op.f("pk_hall_stats_published")),
        schema=SCHEMA,
    )


    op.create_index("uq_counter_clerk_sub", "counter", ["clerk_sub"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("clerk_sub IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("uq_counter_clerk_sub", table_name="counter", schema=SCHEMA)
    op.drop_table("hall_stats_published", schema=SCHEMA)
    op.drop_column("appointment", "case_id", schema=SCHEMA)
