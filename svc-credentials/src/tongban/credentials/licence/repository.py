import uuid

from sqlalchemy import Select, exists, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.licence.models import SERIAL, Licence, StatusList

STATUS_LIST_SIZE = 131_072   # 16 KiB: the W3C minimum, so one position says little about whom it is
FILL_LIMIT = STATUS_LIST_SIZE // 2


async def get(session: AsyncSession, licence_id: uuid.UUID, lock: bool = False) -> Licence | None:
    stmt = select(Licence).where(Licence.id == licence_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_identifier(session: AsyncSession, identifier: str) -> Licence | None:
    return (await session.execute(select(Licence).where(Licence.identifier == identifier))).scalar_one_or_none()


async def get_by_case(session: AsyncSession, case_id: uuid.UUID) -> Licence | None:
    return (await session.execute(select(Licence).where(Licence.source_case_id == case_id))).scalar_one_or_none()


async def next_serial(session: AsyncSession) -> int:
    return int((await session.execute(SERIAL.next_value())).scalar_one())


async def add(session: AsyncSession, licence: Licence) -> Licence:
    session.add(licence)
    await session.flush()
    return licence


async def allocate_status_position(session: AsyncSession, random_index) -> tuple[int, int]:  # noqa: ANN001
    """A free random position in the open status list (a new list once it is half full).

    The list row is locked, so concurrent issues take distinct positions without retries.
    """
    lst = (await session.execute(select(StatusList).where(StatusList.allocated < FILL_LIMIT)
                                 .order_by(StatusList.id).limit(1).with_for_update())).scalar_one_or_none()
    if lst is None:
        await session.execute(text("LOCK TABLE credentials.status_list IN SHARE ROW EXCLUSIVE MODE"))
        lst = (await session.execute(select(StatusList).where(StatusList.allocated < FILL_LIMIT)
                                     .order_by(StatusList.id).limit(1).with_for_update())).scalar_one_or_none()
        if lst is None:
            lst = StatusList(size=STATUS_LIST_SIZE, allocated=0)
            session.add(lst)
            await session.flush()
    while True:
        index = random_index(lst.size)
        taken = (await session.execute(select(exists().where(Licence.status_list_id == lst.id,
                                                             Licence.status_index == index)))).scalar()
        if not taken:
            break
    lst.allocated += 1
    return lst.id, index


async def get_status_list(session: AsyncSession, list_id: int) -> StatusList | None:
    return await session.get(StatusList, list_id)


async def positions_with_status(session: AsyncSession, list_id: int, status: str) -> list[int]:
    return list((await session.execute(select(Licence.status_index).where(
        Licence.status_list_id == list_id, Licence.status == status))).scalars())


def holder_query(holder_type: str, holder_id: str, include_superseded: bool) -> Select[tuple[Licence]]:
    """A holder's licences, newest first (the wallet); served by ix_licence_holder."""
    stmt = select(Licence).where(Licence.holder_id == holder_id, Licence.holder_type == holder_type)
    if not include_superseded:
        stmt = stmt.where(Licence.status != "superseded")
    return stmt.order_by(Licence.issued_at.desc(), Licence.id.desc())
