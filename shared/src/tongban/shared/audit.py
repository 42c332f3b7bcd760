"""The audit trail: every state change records who, when, what and why, in the same transaction."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.shared.auth import AUTH_ERRORS, Principal, Requires
from tongban.shared.db import BatchedInsert, SessionDep
from tongban.shared.errors import responses
from tongban.shared.pagination import Page, PageDep, paginate
from tongban.shared.logging import request_id_var
from tongban.shared.tables import PlatformTables


class AuditTrail:
    def __init__(self, tables: PlatformTables) -> None:
        self.table = tables.audit_event
        self._rows = BatchedInsert(self.table, f"audit_batch_{self.table.schema}")

    async def record(self, session: AsyncSession, actor: Principal | str, action: str, entity: str,
                     entity_id: str, reason: str | None = None, detail: dict[str, Any] | None = None) -> None:
        """Record a state change. `detail` must hold no unmasked personal numbers."""
        sub, role = (actor.sub, actor.role) if isinstance(actor, Principal) else (actor, "system")
        row = {"actor": sub, "actor_role": role, "action": action, "entity": entity, "entity_id": entity_id,
               "reason": reason, "request_id": request_id_var.get(), "detail": detail}
        await self._rows.insert(session, row)

    @contextlib.asynccontextmanager
    async def batched(self, session: AsyncSession) -> AsyncIterator[None]:
        """Within the block, records are written with one multi-row INSERT at its end."""
        async with self._rows.batched(session):
            yield


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: dt.datetime
    actor: str
    actor_role: str
    action: str
    entity: str
    entity_id: str
    reason: str | None
    request_id: str | None
    detail: dict[str, Any] | None


def audit_router(tables: PlatformTables) -> APIRouter:
    """`GET /audit-events`: the service's audit trail, for auditors and admins, newest first."""
    router = APIRouter(tags=["audit"])
    table = tables.audit_event

    @router.get("/audit-events", response_model=Page[AuditEventRead], responses=responses(*AUTH_ERRORS))
    async def list_audit_events(
        session: SessionDep, page: PageDep, _: Annotated[Principal, Depends(Requires("audit:read"))],
        entity: Annotated[str | None, Query(max_length=100)] = None,
        entity_id: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Page[AuditEventRead]:
        stmt = select(table).order_by(table.c.id.desc())
        if entity:
            stmt = stmt.where(table.c.entity == entity)
        if entity_id:
            stmt = stmt.where(table.c.entity_id == entity_id)
        return await paginate(session, stmt, page, lambda r: AuditEventRead.model_validate(dict(r)), mappings=True)

    return router
