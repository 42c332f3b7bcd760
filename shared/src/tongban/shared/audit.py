"""The audit trail: every state change records who, when, what and why, in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.shared.auth import Principal
from tongban.shared.logging import request_id_var
from tongban.shared.tables import PlatformTables


class AuditTrail:
    def __init__(self, tables: PlatformTables) -> None:
        self.table = tables.audit_event

    async def record(self, session: AsyncSession, actor: Principal | str, action: str, entity: str,
                     entity_id: str, reason: str | None = None, detail: dict[str, Any] | None = None) -> None:
        """Record a state change. `detail` must hold no unmasked personal numbers."""
        sub, role = (actor.sub, actor.role) if isinstance(actor, Principal) else (actor, "system")
        await session.execute(self.table.insert().values(
            actor=sub, actor_role=role, action=action, entity=entity, entity_id=entity_id, reason=reason,
            request_id=request_id_var.get(), detail=detail))
