"""check constraints under the names the models give them: 0002 named them ck_<table>_<name>,
and the naming convention prefixed that again (ck_ticket_ck_ticket_rating)

Revision ID: 0007_check_names
Revises: 0006_queue_hot
Create Date: 2026-12-06
"""
from alembic import op

revision = "0007_check_names"
down_revision = "0006_queue_hot"
branch_labels = None
depends_on = None
SCHEMA = "queue"

RENAMED = [("hall", "latitude"), ("hall", "longitude"), ("counter_skill", "weight"), ("ticket", "rating"),
           ("slot_template", "capacity"), ("slot_template", "weekday"), ("slot_template", "times"),
           ("hall_closure", "period")]


def upgrade() -> None:
    for table, name in RENAMED:
        op.execute(f"ALTER TABLE {SCHEMA}.{table} RENAME CONSTRAINT ck_{table}_ck_{table}_{name} TO ck_{table}_{name}")


def downgrade() -> None:
    for table, name in RENAMED:
        op.execute(f"ALTER TABLE {SCHEMA}.{table} RENAME CONSTRAINT ck_{table}_{name} TO ck_{table}_ck_{table}_{name}")
