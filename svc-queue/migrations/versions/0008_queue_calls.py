"""calling the next reads only what it calls: the waiting line's index ends in the ticket id (the
full calling order, so a claim stops at the first ticket it can lock instead of sorting a batch),
and the tickets sent to a counter have an index of their own, in calling order (the claim's first
pick scanned the hall's whole waiting line for them: measured, 2,000 buffers of a 2,400-buffer
call at 1,500 waiting)

Revision ID: 0008_queue_calls
Revises: 0007_check_names
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_queue_calls"
down_revision = "0007_check_names"
branch_labels = None
depends_on = None
SCHEMA = "queue"


def upgrade() -> None:
    op.drop_index("ix_ticket_waiting", table_name="ticket", schema=SCHEMA)
    op.create_index("ix_ticket_waiting", "ticket",
                    ["hall_id", "day", "category", sa.literal_column("priority DESC"), "queued_at", "id"],
                    schema=SCHEMA, postgresql_where=sa.text("status = 'waiting'"))
    op.drop_index("ix_ticket_targeted", table_name="ticket", schema=SCHEMA)
    op.create_index("ix_ticket_targeted", "ticket",
                    ["target_counter_id", sa.literal_column("priority DESC"), "queued_at", "id"], schema=SCHEMA,
                    postgresql_where=sa.text("status = 'waiting' AND target_counter_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_ticket_targeted", table_name="ticket", schema=SCHEMA)
    op.create_index("ix_ticket_targeted", "ticket", ["target_counter_id"], schema=SCHEMA,
                    postgresql_where=sa.text("status = 'waiting'"))
    op.drop_index("ix_ticket_waiting", table_name="ticket", schema=SCHEMA)
    op.create_index("ix_ticket_waiting", "ticket",
                    ["hall_id", "day", "category", sa.literal_column("priority DESC"), "queued_at"],
                    schema=SCHEMA, postgresql_where=sa.text("status = 'waiting'"))
