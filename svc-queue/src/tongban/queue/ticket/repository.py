import datetime as dt
import uuid

from sqlalchemy import Select, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tongban.queue.counter.models import Counter, CounterSkill
from tongban.queue.ticket.models import Ticket, TicketSequence

CALL_ORDER = (Ticket.priority.desc(), Ticket.queued_at, Ticket.id)


# Built once, values bound apart: SQLAlchemy keeps their cache keys and compiled forms (building
# them per call was a visible share of svc-queue's CPU under load, profiled).
_GET = select(Ticket).where(Ticket.id == bindparam("ticket_id"))
_GET_LOCKED = _GET.with_for_update()
_FRONT = (select(Ticket.id, Ticket.person_sub, Ticket.approach_notified_at)
          .where(Ticket.hall_id == bindparam("hall_id"), Ticket.day == bindparam("day"),
                 Ticket.category == bindparam("category"), Ticket.status == "waiting",
                 Ticket.target_counter_id.is_(None))
          .order_by(Ticket.priority.desc(), Ticket.queued_at, Ticket.id).limit(bindparam("n")))


async def get(session: AsyncSession, ticket_id: uuid.UUID, lock: bool = False) -> Ticket | None:
    """One ticket; `lock` takes its row lock."""
    return (await session.execute(_GET_LOCKED if lock else _GET, {"ticket_id": ticket_id})).scalar_one_or_none()


async def add(session: AsyncSession, ticket: Ticket) -> Ticket:
    """Insert the ticket; what the database fills in (queued_at, created_at) comes back with the
    INSERT's RETURNING (the base's eager defaults), so no second read."""
    session.add(ticket)
    await session.flush()
    return ticket


async def next_number(session: AsyncSession, hall_id: uuid.UUID, day: dt.date, prefix: str) -> int:
    """The next number of a prefix in a hall on a day, in its own short transaction.

    Inside the request's transaction the sequence row's lock would be held until that commit,
    and every other taker of the prefix would queue behind it (measured: 50 kiosks fell to a
    few tickets per second). Committed on its own, a number is never given twice; a take that
    fails afterwards leaves a gap in the numbers, as a paper roll's torn ticket does.
    """
    stmt = insert(TicketSequence).values(hall_id=hall_id, day=day, prefix=prefix, last=1)
    stmt = stmt.on_conflict_do_update(index_elements=["hall_id", "day", "prefix"],
                                      set_={"last": TicketSequence.last + 1}).returning(TicketSequence.last)
    engine = session.bind
    assert isinstance(engine, AsyncEngine)
    async with engine.begin() as conn:
        # The number's own commit need not wait for the disk: only a ticket carries it, and the
        # ticket's (durable) commit comes later in the WAL, so flushing it flushes this one too. A
        # crash before that may give the number again, to a ticket issued after the one that was lost.
        await conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        return (await conn.execute(stmt)).scalar_one()


async def open_remote_ticket(session: AsyncSession, hall_id: uuid.UUID, day: dt.date, category: str,
                             person_sub: str) -> Ticket | None:
    """A person's ticket of this category that is still waiting or called."""
    return (await session.execute(select(Ticket).where(
        Ticket.hall_id == hall_id, Ticket.day == day, Ticket.category == category, Ticket.person_sub == person_sub,
        Ticket.status.in_(("waiting", "called"))).limit(1))).scalar_one_or_none()


async def claim_next(session: AsyncSession, hall_id: uuid.UUID, day: dt.date, counter_id: uuid.UUID,
                     category_weights: dict[str, int], item_weights: dict[str, int]) -> Ticket | None:
    """Lock and return the ticket this counter should call, or None.

    Tickets transferred to this counter come first; then, from the highest skill weight down,
    the first waiting ticket in calling order. `SKIP LOCKED` lets concurrent counters pass over
    a ticket another is claiming, and PostgreSQL re-checks `status = 'waiting'` on the row it
    locks, so a ticket another counter called meanwhile is never returned: no ticket is called
    twice.
    """
    base = select(Ticket).where(Ticket.hall_id == hall_id, Ticket.day == day, Ticket.status == "waiting")

    async def first(stmt: Select[tuple[Ticket]]) -> Ticket | None:
        stmt = stmt.order_by(*CALL_ORDER).limit(1).with_for_update(skip_locked=True)
        return (await session.execute(stmt)).scalar_one_or_none()

    ticket = await first(base.where(Ticket.target_counter_id == counter_id))
    if ticket is not None:
        return ticket
    for weight in (3, 2, 1):
        items = [code for code, w in item_weights.items() if w == weight]
        categories = [code for code, w in category_weights.items() if w == weight]
        conditions = []
        if items:
            conditions.append(Ticket.item_code.in_(items))
        if categories:
            by_category = Ticket.category.in_(categories)
            if item_weights:  # an item's own weight (exclude included) beats its category's
                by_category = and_(by_category, or_(Ticket.item_code.is_(None),
                                                    Ticket.item_code.not_in(list(item_weights))))
            conditions.append(by_category)
        if conditions:
            ticket = await first(base.where(Ticket.target_counter_id.is_(None), or_(*conditions)))
            if ticket is not None:
                return ticket
    return None


async def waiting_of_day(session: AsyncSession, hall_id: uuid.UUID, day: dt.date) -> list[Ticket]:
    """A hall's waiting tickets of a day, locked."""
    return list((await session.execute(select(Ticket).where(
        Ticket.hall_id == hall_id, Ticket.day == day, Ticket.status == "waiting").order_by(*CALL_ORDER)
        .with_for_update())).scalars())


async def release_targeted(session: AsyncSession, counter_id: uuid.UUID) -> list[Ticket]:
    """Waiting tickets sent to a counter go back to their category's line (keeping their place)."""
    return list((await session.execute(
        update(Ticket).where(Ticket.target_counter_id == counter_id, Ticket.status == "waiting")
        .values(target_counter_id=None).returning(Ticket), execution_options={"synchronize_session": False})
    ).scalars())


async def ahead_of(session: AsyncSession, ticket: Ticket) -> int:
    """Waiting tickets of the same category before this one in calling order."""
    return (await session.execute(_ahead_stmt(ticket))).scalar_one()


def _ahead_stmt(ticket: Ticket) -> Select[tuple[int]]:
    return select(func.count()).select_from(Ticket).where(
        Ticket.hall_id == ticket.hall_id, Ticket.day == ticket.day, Ticket.category == ticket.category,
        Ticket.status == "waiting", Ticket.target_counter_id.is_(None), Ticket.id != ticket.id,
        or_(Ticket.priority > ticket.priority,
            and_(Ticket.priority == ticket.priority,
                 or_(Ticket.queued_at < ticket.queued_at,
                     and_(Ticket.queued_at == ticket.queued_at, Ticket.id < ticket.id)))))


async def wait_figures(session: AsyncSession, ticket: Ticket) -> tuple[int, float | None, int]:
    """What a waiting ticket's view shows, in one statement: (`ahead_of`, the category's
    `average_service_seconds`, the open counters serving the category (`open_per_category`))."""
    avg = select(func.extract("epoch", Ticket.finished_at - func.coalesce(Ticket.started_at, Ticket.called_at))
                 .label("s")).where(Ticket.hall_id == ticket.hall_id, Ticket.status == "done",
                                    Ticket.finished_at.is_not(None), Ticket.category == ticket.category
                                    ).order_by(Ticket.finished_at.desc()).limit(30).subquery()
    serving = (select(func.count(func.distinct(Counter.id))).join(CounterSkill, Counter.id == CounterSkill.counter_id)
               .where(Counter.hall_id == ticket.hall_id, Counter.status == "open", CounterSkill.kind == "category",
                      CounterSkill.value == ticket.category, CounterSkill.weight > 0).scalar_subquery())
    row = (await session.execute(select(_ahead_stmt(ticket).scalar_subquery(),
                                        select(func.avg(avg.c.s)).scalar_subquery(), serving))).one()
    return int(row[0]), float(row[1]) if row[1] is not None else None, int(row[2])


async def front_of_line(session: AsyncSession, hall_id: uuid.UUID, day: dt.date, category: str,
                        n: int) -> list[tuple[uuid.UUID, str | None, dt.datetime | None]]:
    """The first `n` waiting tickets of a category in calling order: (id, person, notified at).
    Not locked: locking the head of the line would make every other counter skip it."""
    return list((await session.execute(_FRONT, {"hall_id": hall_id, "day": day, "category": category, "n": n})).all())


async def mark_notified(session: AsyncSession, ticket_id: uuid.UUID, at: dt.datetime) -> Ticket | None:
    """Mark a ticket's approach as told, unless someone else did it first (then None)."""
    return (await session.execute(update(Ticket).where(Ticket.id == ticket_id, Ticket.approach_notified_at.is_(None))
                                  .values(approach_notified_at=at).returning(Ticket))).scalar_one_or_none()


async def average_service_seconds(session: AsyncSession, hall_id: uuid.UUID, category: str | None = None,
                                  last: int = 30) -> float | None:
    """Rolling average service time over the hall's (category's) last `last` finished tickets."""
    stmt = select(func.extract("epoch", Ticket.finished_at - func.coalesce(Ticket.started_at, Ticket.called_at))
                  .label("s")).where(Ticket.hall_id == hall_id, Ticket.status == "done",
                                     Ticket.finished_at.is_not(None))
    if category:
        stmt = stmt.where(Ticket.category == category)
    recent = stmt.order_by(Ticket.finished_at.desc()).limit(last).subquery()
    value = (await session.execute(select(func.avg(recent.c.s)))).scalar()
    return float(value) if value is not None else None


async def waiting_counts(session: AsyncSession, hall_ids: list[uuid.UUID], day: dt.date) -> dict[
        tuple[uuid.UUID, str], int]:
    """Waiting tickets per (hall, category) today."""
    rows = (await session.execute(select(Ticket.hall_id, Ticket.category, func.count()).where(
        Ticket.hall_id.in_(hall_ids), Ticket.day == day, Ticket.status == "waiting")
        .group_by(Ticket.hall_id, Ticket.category))).all()
    return {(h, c): n for h, c, n in rows}


async def by_ids(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Ticket]:
    if not ids:
        return {}
    return {t.id: t for t in (await session.execute(select(Ticket).where(Ticket.id.in_(ids)))).scalars()}


def hall_query(hall_id: uuid.UUID, day: dt.date, status: str | None) -> Select[tuple[Ticket]]:
    """A hall's tickets of a day, in number order."""
    stmt = select(Ticket).where(Ticket.hall_id == hall_id, Ticket.day == day)
    if status:
        stmt = stmt.where(Ticket.status == status)
    return stmt.order_by(Ticket.category, Ticket.number, Ticket.id)


def person_query(person_sub: str) -> Select[tuple[Ticket]]:
    """A person's tickets, newest first."""
    return select(Ticket).where(Ticket.person_sub == person_sub).order_by(Ticket.created_at.desc(), Ticket.id)
