import uuid

from sqlalchemy import Select, bindparam, exists, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.licence.models import SERIAL, Licence, StatusList
from tongban.credentials.licence_type.models import LicenceType

STATUS_LIST_SIZE = 131_072   # 16 KiB: the W3C minimum, so one position says little about whom it is
FILL_LIMIT = STATUS_LIST_SIZE // 2


async def get(session: AsyncSession, licence_id: uuid.UUID, lock: bool = False) -> Licence | None:
    stmt = select(Licence).where(Licence.id == licence_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


_WITH_TYPE_NAME = (select(Licence, LicenceType.name).outerjoin(LicenceType, LicenceType.code == Licence.type_code)
                   .where(Licence.id == bindparam("licence_id")))


async def get_with_type_name(session: AsyncSession, licence_id: uuid.UUID) -> tuple[Licence, str | None] | None:
    """A licence version and its type's name in one round trip (the holder's wallet view shows
    营业执照, not its code); the statement is built once."""
    row = (await session.execute(_WITH_TYPE_NAME, {"licence_id": licence_id})).first()
    return (row[0], row[1]) if row is not None else None


async def get_by_identifier(session: AsyncSession, identifier: str) -> Licence | None:
    return (await session.execute(select(Licence).where(Licence.identifier == identifier))).scalar_one_or_none()


async def next_serial(session: AsyncSession) -> int:
    return int((await session.execute(SERIAL.next_value())).scalar_one())


async def add(session: AsyncSession, licence: Licence) -> Licence:
    session.add(licence)
    await session.flush()
    return licence


async def add_once(session: AsyncSession, licence: Licence) -> bool:
    """Insert a licence version unless a licence of its source case exists (then False): one
    statement where a savepoint and a retry would take four. Other conflicts still raise."""
    values = {c.key: v for c in Licence.__table__.columns if (v := getattr(licence, c.key)) is not None}
    done = (await session.execute(_ADD_ONCE, values)).first()
    return done is not None


# Built once: the values are bound per call (the columns given decide the compiled form, cached).
_ADD_ONCE = (insert(Licence.__table__).on_conflict_do_nothing(index_elements=[Licence.__table__.c.source_case_id])
             .returning(Licence.__table__.c.id))


# One round trip for the usual case: lock the open list, count the position in, and say whether
# the random position is taken (the list row stays locked, so no one else takes it meanwhile);
# with `{serial}` filled, the next licence serial too (taken only when a list was found: one row,
# one value).
_POSITION_SQL = """
    WITH open_list AS (
        SELECT id FROM credentials.status_list WHERE allocated < :fill ORDER BY id LIMIT 1 FOR UPDATE),
    bumped AS (
        UPDATE credentials.status_list s SET allocated = s.allocated + 1 FROM open_list
        WHERE s.id = open_list.id RETURNING s.id, s.size)
    SELECT bumped.id, bumped.size, EXISTS (SELECT 1 FROM credentials.licence l
        WHERE l.status_list_id = bumped.id AND l.status_index = :index) AS taken{serial}
    FROM bumped"""
_TAKE_POSITION = text(_POSITION_SQL.format(serial=""))
_TAKE_SERIAL_AND_POSITION = text(_POSITION_SQL.format(serial=", nextval('credentials.licence_serial') AS serial"))


async def allocate_status_position(session: AsyncSession, random_index) -> tuple[int, int]:  # noqa: ANN001
    """A free random position in the open status list (a new list once it is half full).

    The list row is locked, so concurrent issues take distinct positions without retries.
    """
    index = random_index(STATUS_LIST_SIZE)
    row = (await session.execute(_TAKE_POSITION, {"fill": FILL_LIMIT, "index": index})).first()
    if row is not None:
        list_id, size, taken = row
        while taken or index >= size:
            index = random_index(size)
            taken = (await session.execute(select(exists().where(Licence.status_list_id == list_id,
                                                                 Licence.status_index == index)))).scalar()
        return list_id, index
    return await _position_in_new_list(session, random_index)


async def allocate_serial_and_position(session: AsyncSession, random_index) -> tuple[int, int, int]:  # noqa: ANN001
    """A new licence's serial and its status-list position (as `allocate_status_position`): in the
    usual case one round trip for both."""
    index = random_index(STATUS_LIST_SIZE)
    row = (await session.execute(_TAKE_SERIAL_AND_POSITION, {"fill": FILL_LIMIT, "index": index})).first()
    if row is None:
        return await next_serial(session), *await _position_in_new_list(session, random_index)
    list_id, size, taken, serial = row
    while taken or index >= size:
        index = random_index(size)
        taken = (await session.execute(select(exists().where(Licence.status_list_id == list_id,
                                                             Licence.status_index == index)))).scalar()
    return int(serial), list_id, index


async def _position_in_new_list(session: AsyncSession, random_index) -> tuple[int, int]:  # noqa: ANN001
    """No open list (the first issue, or the last list is half full): make one, once (the table
    lock makes a concurrent issue wait and then find the new list)."""
    await session.execute(text("LOCK TABLE credentials.status_list IN SHARE ROW EXCLUSIVE MODE"))
    lst = (await session.execute(select(StatusList).where(StatusList.allocated < FILL_LIMIT)
                                 .order_by(StatusList.id).limit(1).with_for_update()
                                 .execution_options(populate_existing=True))).scalar_one_or_none()
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
