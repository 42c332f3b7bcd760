"""notify: per-account preferences, in-app messages, deliveries per outside channel (scheduled →
sent → delivered / failed), one-time WeChat subscribe authorisations, escalation contacts (heads,
supervising office), licences to remind of, and the local providers' sink

Revision ID: 0007_notify
Revises: 0007_wechat
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_notify"
down_revision = "0007_wechat"
branch_labels = None
depends_on = None
SCHEMA = "gateway"
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notify_preference",
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("gateway.account.id"), primary_key=True),
        sa.Column("sms", sa.Boolean(), nullable=False),
        sa.Column("wechat", sa.Boolean(), nullable=False),
        sa.Column("quiet_start", sa.Time()),
        sa.Column("quiet_end", sa.Time()),
        sa.Column("phone", sa.String(11)),
        sa.Column("muted", postgresql.JSONB(), nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "notify_message",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("gateway.account.id"), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("variables", postgresql.JSONB(), nullable=False),
        sa.Column("event_id", sa.String(100)),
        sa.Column("event_type", sa.String(100)),
        sa.Column("event_at", TZ),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("read_at", TZ),
        sa.UniqueConstraint("account_id", "dedup_key", name="uq_notify_message_dedup"),
        schema=SCHEMA,
    )
    op.create_index("ix_notify_message_inbox", "notify_message", ["account_id", "created_at"], schema=SCHEMA)
    op.create_table(
        "notify_delivery",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("message_id", sa.Uuid(), sa.ForeignKey("gateway.notify_message.id"), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("template_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("not_before", TZ, nullable=False),
        sa.Column("deferred", sa.String(20)),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("provider_ref", sa.String(100)),
        sa.Column("last_error", sa.String(500)),
        sa.Column("sent_at", TZ),
        sa.Column("delivered_at", TZ),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint("channel IN ('sms', 'wechat', 'inbox')", name="ck_notify_delivery_channel"),
        sa.CheckConstraint("status IN ('scheduled', 'sent', 'delivered', 'failed')", name="ck_notify_delivery_status"),
        sa.UniqueConstraint("message_id", "channel", name="uq_notify_delivery_channel"),
        schema=SCHEMA,
    )
    op.create_index("ix_notify_delivery_account_id", "notify_delivery", ["account_id"], schema=SCHEMA)
    op.create_index("ix_notify_delivery_due", "notify_delivery", ["not_before"], schema=SCHEMA,
                    postgresql_where=sa.text("status IN ('scheduled', 'sent')"))
    op.create_index("ix_notify_delivery_status", "notify_delivery", ["status", "updated_at"], schema=SCHEMA)
    op.create_table(
        "notify_wechat_grant",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("gateway.account.id"), nullable=False),
        sa.Column("template_id", sa.String(100), nullable=False),
        sa.Column("granted_at", TZ, nullable=False),
        sa.Column("consumed_at", TZ),
        sa.Column("message_id", sa.Uuid()),
        schema=SCHEMA,
    )
    op.create_index("ix_notify_wechat_grant_open", "notify_wechat_grant", ["account_id", "template_id"],
                    schema=SCHEMA, postgresql_where=sa.text("consumed_at IS NULL"))
    op.create_table(
        "notify_escalation_contact",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("gateway.account.id"), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("department", sa.String(50)),
        sa.Column("created_at", TZ, nullable=False),
        sa.CheckConstraint("role IN ('head', 'supervision')", name="ck_notify_escalation_contact_role"),
        sa.CheckConstraint("role = 'supervision' OR department IS NOT NULL",
                           name="ck_notify_escalation_contact_head_has_department"),
        sa.UniqueConstraint("account_id", "role", "department", name="uq_notify_escalation_contact"),
        schema=SCHEMA,
    )
    op.create_index("ix_notify_escalation_contact_department", "notify_escalation_contact", ["department"],
                    schema=SCHEMA)
    op.create_table(
        "notify_licence_watch",
        sa.Column("licence_id", sa.Uuid(), primary_key=True),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("gateway.account.id"), nullable=False),
        sa.Column("type_code", sa.String(40), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("reminded_at", TZ),
        schema=SCHEMA,
    )
    op.create_index("ix_notify_licence_watch_valid_until", "notify_licence_watch", ["valid_until"], schema=SCHEMA)
    op.create_table(
        "notify_sink",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("template_id", sa.String(100), nullable=False),
        sa.Column("variables", postgresql.JSONB(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("provider_ref", sa.String(100), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.UniqueConstraint("provider_ref", name="uq_notify_sink_provider_ref"),
        schema=SCHEMA,
    )
    op.create_index("ix_notify_sink_delivery_id", "notify_sink", ["delivery_id"], schema=SCHEMA)


def downgrade() -> None:
    for table in ("notify_sink", "notify_licence_watch", "notify_escalation_contact", "notify_wechat_grant",
                  "notify_delivery", "notify_message", "notify_preference"):
        op.drop_table(table, schema=SCHEMA)
