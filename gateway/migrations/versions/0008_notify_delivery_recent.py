"""notify: an index for the hourly limit's look-up (an account's recent deliveries on one channel),
which scanned the whole delivery table once per message

Revision ID: 0008_notify_recent
Revises: 0007_notify
Create Date: 2026-12-06
"""
from alembic import op

revision = "0008_notify_recent"
down_revision = "0007_notify"
branch_labels = None
depends_on = None
SCHEMA = "gateway"


def upgrade() -> None:
    op.create_index("ix_notify_delivery_recent", "notify_delivery", ["account_id", "channel", "not_before"],
                    schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_notify_delivery_recent", table_name="notify_delivery", schema=SCHEMA)
