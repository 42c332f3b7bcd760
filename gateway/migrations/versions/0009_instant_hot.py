"""notify: the dispatcher's claim and receipt look-ups each read an index of their own status, in
order (a partial index per status), instead of one index of both statuses: with a recipient's
backlog deferred for hours (the hourly limit, quiet hours), a pass read every waiting delivery;
and the account index of deliveries goes (the hourly limit's index leads with the account: one
index fewer to write per delivery and per status change)

Revision ID: 0009_instant_hot
Revises: 0008_notify_recent
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_instant_hot"
down_revision = "0008_notify_recent"
branch_labels = None
depends_on = None
SCHEMA = "gateway"


def upgrade() -> None:
    op.create_index("ix_notify_delivery_scheduled", "notify_delivery", ["not_before"], schema=SCHEMA,
                    postgresql_where=sa.text("status = 'scheduled'"))
    op.create_index("ix_notify_delivery_sent", "notify_delivery", ["sent_at"], schema=SCHEMA,
                    postgresql_where=sa.text("status = 'sent'"))
    op.drop_index("ix_notify_delivery_due", table_name="notify_delivery", schema=SCHEMA)
    op.drop_index("ix_notify_delivery_account_id", table_name="notify_delivery", schema=SCHEMA)


def downgrade() -> None:
    op.create_index("ix_notify_delivery_account_id", "notify_delivery", ["account_id"], schema=SCHEMA)
    op.create_index("ix_notify_delivery_due", "notify_delivery", ["not_before"], schema=SCHEMA,
                    postgresql_where=sa.text("status IN ('scheduled', 'sent')"))
    op.drop_index("ix_notify_delivery_sent", table_name="notify_delivery", schema=SCHEMA)
    op.drop_index("ix_notify_delivery_scheduled", table_name="notify_delivery", schema=SCHEMA)
