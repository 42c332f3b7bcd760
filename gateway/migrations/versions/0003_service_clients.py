"""service clients: our own services as OAuth clients of the gateway

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
SCHEMA = "gateway"


def upgrade() -> None:
    op.add_column("oauth_client", sa.Column("kind", sa.String(10), nullable=False, server_default="partner"),
                  schema=SCHEMA)
    op.add_column("oauth_client", sa.Column("service", sa.String(30)), schema=SCHEMA)
    op.alter_column("oauth_client", "partner", nullable=True, schema=SCHEMA)
    op.execute(f"ALTER TABLE {SCHEMA}.oauth_client ADD CONSTRAINT ck_oauth_client_kind CHECK ("
               "(kind = 'partner' AND partner IS NOT NULL AND service IS NULL) OR "
               "(kind = 'service' AND service IS NOT NULL AND partner IS NULL))")


def downgrade() -> None:
    op.execute(f"ALTER TABLE {SCHEMA}.oauth_client DROP CONSTRAINT ck_oauth_client_kind")
    op.execute(f"DELETE FROM {SCHEMA}.oauth_client WHERE kind = 'service'")
    op.alter_column("oauth_client", "partner", nullable=False, schema=SCHEMA)
    op.drop_column("oauth_client", "service", schema=SCHEMA)
    op.drop_column("oauth_client", "kind", schema=SCHEMA)
