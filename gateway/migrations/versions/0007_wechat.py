"""wechat: WeChat identities (openid per mini-program, unionid across the city's mini-programs)
bound to accounts; phone numbers WeChat confirmed; the refresh grace window (a rotated token's
successor, sealed with the rotated token itself)

Revision ID: 0007_wechat
Revises: 0006_trust
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_wechat"
down_revision = "0006_trust"
branch_labels = None
depends_on = None
SCHEMA = "gateway"


def upgrade() -> None:
    op.create_table(
        "wechat_identity",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("account_id", sa.Uuid(), sa.ForeignKey("gateway.account.id"), nullable=False, index=True),
        sa.Column("appid", sa.String(32), nullable=False),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("unionid", sa.String(64), index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("appid", "openid", name="uq_wechat_identity_appid_openid"),
        schema=SCHEMA,
    )
    op.add_column("account", sa.Column("phone_verified_at", sa.DateTime(timezone=True)), schema=SCHEMA)
    op.create_index("uq_account_verified_phone", "account", ["phone"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("active AND phone_verified_at IS NOT NULL"))
    op.add_column("refresh_token", sa.Column("replaced_by", sa.Uuid()), schema=SCHEMA)
    op.add_column("refresh_token", sa.Column("successor_sealed", sa.Text()), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("refresh_token", "successor_sealed", schema=SCHEMA)
    op.drop_column("refresh_token", "replaced_by", schema=SCHEMA)
    op.drop_index("uq_account_verified_phone", "account", schema=SCHEMA)
    op.drop_column("account", "phone_verified_at", schema=SCHEMA)
    op.drop_table("wechat_identity", schema=SCHEMA)
