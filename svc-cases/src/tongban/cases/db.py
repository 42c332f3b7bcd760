from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase

from tongban.shared.audit import AuditTrail
from tongban.shared.db import MAPPER_ARGS, service_metadata
from tongban.shared.events.outbox import Outbox
from tongban.shared.tables import PlatformTables


class Base(DeclarativeBase):
    metadata = service_metadata("cases")
    __mapper_args__ = MAPPER_ARGS


platform = PlatformTables(Base.metadata)
outbox = Outbox(platform.outbox)
audit = AuditTrail(platform)


async def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.sessionmaker  # type: ignore[no-any-return]


# For the few routes that commit more than once (a submission whose licence-backed materials are
# recorded at svc-credentials between two transactions: tongban.cases.submission_flow).
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
