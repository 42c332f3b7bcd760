"""every act names actor and principal: who gave a consent (an agent, under which delegation), the
agent behind a licence use, the gateway delegation a company agent applied a seal under

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
S = "credentials"


def upgrade() -> None:
    op.add_column("consent", sa.Column("given_by", sa.String(200)), schema=S)
    op.add_column("consent", sa.Column("delegation_id", UUID(as_uuid=True)), schema=S)
    op.add_column("licence_use", sa.Column("agent", sa.String(200)), schema=S)
    op.add_column("licence_use", sa.Column("delegation_id", UUID(as_uuid=True)), schema=S)
    op.add_column("seal_use", sa.Column("agency_delegation_id", UUID(as_uuid=True)), schema=S)


def downgrade() -> None:
    op.drop_column("seal_use", "agency_delegation_id", schema=S)
    op.drop_column("licence_use", "delegation_id", schema=S)
    op.drop_column("licence_use", "agent", schema=S)
    op.drop_column("consent", "delegation_id", schema=S)
    op.drop_column("consent", "given_by", schema=S)
