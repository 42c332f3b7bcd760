import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.licence.models import Licence
from tongban.credentials.presentation.models import Presentation


async def add(session: AsyncSession, row: Presentation) -> Presentation:
    session.add(row)
    await session.flush()
    return row


async def with_licence(session: AsyncSession, presentation_id: str) -> tuple[Presentation, Licence] | None:
    """A presentation and the licence version it shows, in one query."""
    row = (await session.execute(select(Presentation, Licence).join(Licence, Licence.id == Presentation.licence_id)
                                 .where(Presentation.id == presentation_id))).first()
    return (row[0], row[1]) if row else None


async def mark_used(session: AsyncSession, presentation_id: str, at: dt.datetime) -> bool:
    """Record the first online verification; False if it had been verified before."""
    done = (await session.execute(update(Presentation).where(Presentation.id == presentation_id,
                                                             Presentation.used_at.is_(None))
                                  .values(used_at=at).returning(Presentation.id))).first()
    return done is not None
