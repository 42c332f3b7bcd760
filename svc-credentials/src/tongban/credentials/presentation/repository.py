import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.licence.models import Licence
from tongban.credentials.presentation.models import Presentation, PresentationCheck


async def add(session: AsyncSession, row: Presentation) -> Presentation:
    session.add(row)
    await session.flush()
    return row


async def with_licence(session: AsyncSession, presentation_id: str) -> tuple[Presentation, Licence] | None:
    """A presentation and the licence version it shows, in one query."""
    row = (await session.execute(select(Presentation, Licence).join(Licence, Licence.id == Presentation.licence_id)
                                 .where(Presentation.id == presentation_id))).first()
    return (row[0], row[1]) if row else None


async def first_verifier(session: AsyncSession, origin: str, pid: str, verifier: str,
                         expires_at: dt.datetime) -> str | None:
    """Record `verifier` as the first to verify this presentation online; if another verification
    came first, return who made it (a concurrent first check waits for the other to commit)."""
    inserted = (await session.execute(insert(PresentationCheck).values(
        origin=origin, pid=pid, verifier=verifier, expires_at=expires_at)
        .on_conflict_do_nothing().returning(PresentationCheck.pid))).first()
    if inserted is not None:
        return None
    return (await session.execute(select(PresentationCheck.verifier).where(
        PresentationCheck.origin == origin, PresentationCheck.pid == pid))).scalar_one()


async def purge_checks(session: AsyncSession, before: dt.datetime) -> int:
    """Forget the replay records of presentations that expired before `before`."""
    result = await session.execute(delete(PresentationCheck).where(PresentationCheck.expires_at < before))
    return result.rowcount or 0


async def was_checked(session: AsyncSession, origin: str, pid: str) -> bool:
    return (await session.get(PresentationCheck, (origin, pid))) is not None
