"""the hot paths of taking a number and calling the next: the number in one round trip, the
wait estimate's recent services read from an index

Revision ID: 0006_queue_hot
Revises: 0005_dashboard
Create Date: 2026-12-06
"""
from alembic import op

revision = "0006_queue_hot"
down_revision = "0005_dashboard"
branch_labels = None
depends_on = None
SCHEMA = "queue"

# The next number of a hall's category on a day, or NULL when the hall has no such category.
# Called on its own (autocommit): one round trip instead of BEGIN, SET LOCAL, upsert, COMMIT. Its
# commit need not wait for the disk (set_config(..., true) lasts to the end of this statement's
# own transaction): only a ticket carries the number, and the ticket's durable commit comes later
# in the WAL, so flushing it flushes this one too; a crash before that may give the number again,
# to a ticket issued after the one that was lost.
TAKE_NUMBER = """
CREATE FUNCTION queue.take_ticket_number(p_hall uuid, p_day date, p_prefix varchar) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM queue.hall_category WHERE hall_id = p_hall AND code = p_prefix) THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO queue.ticket_sequence AS s (hall_id, day, prefix, last) VALUES (p_hall, p_day, p_prefix, 1)
    ON CONFLICT (hall_id, day, prefix) DO UPDATE SET last = s.last + 1
    RETURNING s.last INTO n;
    RETURN n;
END
$$
"""


def upgrade() -> None:
    op.execute(TAKE_NUMBER)
    # The wait estimate's rolling average: a category's last 30 services, newest first.
    op.execute("CREATE INDEX ix_ticket_done_recent ON queue.ticket (hall_id, category, finished_at DESC) "
               "WHERE status = 'done'")


def downgrade() -> None:
    op.execute("DROP INDEX queue.ix_ticket_done_recent")
    op.execute("DROP FUNCTION queue.take_ticket_number(uuid, date, varchar)")
