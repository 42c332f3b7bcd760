"""check constraints under the names the models give them: 0001 and 0007 named them in full
(ck_account_role), and the naming convention prefixed that again (ck_account_ck_account_role;
one was then cut to PostgreSQL's 63 characters)

Revision ID: 0010_check_names
Revises: 0009_instant_hot
Create Date: 2026-12-06
"""
from alembic import op

revision = "0010_check_names"
down_revision = "0009_instant_hot"
branch_labels = None
depends_on = None
SCHEMA = "gateway"

RENAMED = [  # (table, the name 0001/0007 left, the models' name)
    ("account", "ck_account_ck_account_role", "ck_account_role"),
    ("notify_delivery", "ck_notify_delivery_ck_notify_delivery_channel", "ck_notify_delivery_channel"),
    ("notify_delivery", "ck_notify_delivery_ck_notify_delivery_status", "ck_notify_delivery_status"),
    ("notify_escalation_contact", "ck_notify_escalation_contact_ck_notify_escalation_contact_role",
     "ck_notify_escalation_contact_role"),
    ("notify_escalation_contact", "ck_notify_escalation_contact_ck_notify_escalation_conta_c17f",
     "ck_notify_escalation_contact_head_has_department"),
]


def upgrade() -> None:
    for table, old, new in RENAMED:
        op.execute(f"ALTER TABLE {SCHEMA}.{table} RENAME CONSTRAINT {old} TO {new}")


def downgrade() -> None:
    for table, old, new in RENAMED:
        op.execute(f"ALTER TABLE {SCHEMA}.{table} RENAME CONSTRAINT {new} TO {old}")
