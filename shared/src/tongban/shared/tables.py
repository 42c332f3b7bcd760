"""The platform tables every service has in its own schema: outbox, inbox, dead letters,
idempotency keys and the audit trail.

The column lists are written once (`_v1_columns`) and serve both the runtime `Table`s and the
Alembic migration (`create_platform_tables_v1`), so they cannot drift. A later change to
these tables gets a `_v2` migration function beside this one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger, Column, DateTime, Index, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text,
    func, text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID


def _v1_columns() -> dict[str, list[Any]]:
    now = func.now()
    return {
        "outbox": [
            Column("id", UUID(as_uuid=True), primary_key=True),
            Column("subject", String(200), nullable=False),
            Column("envelope", JSONB, nullable=False),
            Column("created_at", DateTime(timezone=True), nullable=False, server_default=now),
            Column("published_at", DateTime(timezone=True)),
            Column("attempts", Integer, nullable=False, server_default=text("0")),
            Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=now),
            Column("last_error", Text),
            Index("ix_outbox_pending", "next_attempt_at", postgresql_where=text("published_at IS NULL")),
        ],
        "inbox": [
            Column("consumer", String(100), nullable=False),
            Column("event_id", UUID(as_uuid=True), nullable=False),
            Column("subject", String(200), nullable=False),
            Column("handled_at", DateTime(timezone=True), nullable=False, server_default=now),
            PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
        ],
        "dead_letter": [
            Column("id", BigInteger, primary_key=True, autoincrement=True),
            Column("consumer", String(100), nullable=False),
            Column("event_id", String(100)),
            Column("subject", String(200), nullable=False),
            Column("payload", Text, nullable=False),
            Column("error", Text, nullable=False),
            Column("deliveries", Integer, nullable=False),
            Column("created_at", DateTime(timezone=True), nullable=False, server_default=now),
        ],
        "idempotency_key": [
            Column("principal", String(200), nullable=False),
            Column("key", String(200), nullable=False),
            Column("fingerprint", String(64), nullable=False),
            Column("status_code", Integer),
            Column("response", JSONB),
            Column("created_at", DateTime(timezone=True), nullable=False, server_default=now),
            PrimaryKeyConstraint("principal", "key", name="pk_idempotency_key"),
        ],
        "audit_event": [
            Column("id", BigInteger, primary_key=True, autoincrement=True),
            Column("at", DateTime(timezone=True), nullable=False, server_default=now),
            Column("actor", String(200), nullable=False),
            Column("actor_role", String(50), nullable=False),
            Column("action", String(100), nullable=False),
            Column("entity", String(100), nullable=False),
            Column("entity_id", String(200), nullable=False),
            Column("reason", Text),
            Column("request_id", String(100)),
            Column("detail", JSONB),
            Index("ix_audit_event_entity", "entity", "entity_id"),
        ],
    }


class PlatformTables:
    """The platform tables bound to one service's metadata (and so to its schema)."""

    def __init__(self, metadata: MetaData) -> None:
        cols = _v1_columns()
        self.outbox = Table("outbox", metadata, *cols["outbox"])
        self.inbox = Table("inbox", metadata, *cols["inbox"])
        self.dead_letter = Table("dead_letter", metadata, *cols["dead_letter"])
        self.idempotency_key = Table("idempotency_key", metadata, *cols["idempotency_key"])
        self.audit_event = Table("audit_event", metadata, *cols["audit_event"])
        self.schema = metadata.schema


def create_platform_tables_v1(op: Any, schema: str) -> None:
    """Alembic upgrade step: the platform tables in `schema` (call from a service's first revision)."""
    op.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    for name, items in _v1_columns().items():
        columns = [c for c in items if not isinstance(c, Index)]
        op.create_table(name, *columns, schema=schema)
        for ix in (c for c in items if isinstance(c, Index)):
            op.create_index(ix.name, name, [str(e) for e in ix.expressions], schema=schema,
                            postgresql_where=ix.dialect_options["postgresql"]["where"])


def drop_platform_tables_v1(op: Any, schema: str) -> None:
    for name in reversed(list(_v1_columns())):
        op.drop_table(name, schema=schema)
