import uuid

from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue.counter.models import Counter, CounterSkill


# Built once, values bound apart: SQLAlchemy keeps their cache keys and compiled forms.
_GET = select(Counter).where(Counter.id == bindparam("counter_id"))
_GET_LOCKED = _GET.with_for_update()
_SKILLS = (select(CounterSkill).where(CounterSkill.counter_id.in_(bindparam("ids", expanding=True)))
           .order_by(CounterSkill.kind, CounterSkill.value))


async def get(session: AsyncSession, counter_id: uuid.UUID, lock: bool = False) -> Counter | None:
    """One counter; `lock` takes its row lock (one call at a time per counter)."""
    return (await session.execute(_GET_LOCKED if lock else _GET, {"counter_id": counter_id})).scalar_one_or_none()


async def get_by_number(session: AsyncSession, hall_id: uuid.UUID, number: str) -> Counter | None:
    return (await session.execute(select(Counter).where(Counter.hall_id == hall_id, Counter.number == number))
            ).scalar_one_or_none()


async def operated_by(session: AsyncSession, clerk_sub: str) -> Counter | None:
    """The counter a clerk is signed in to, if any."""
    return (await session.execute(select(Counter).where(Counter.clerk_sub == clerk_sub, Counter.status != "closed")
                                  .limit(1))).scalar_one_or_none()


async def add(session: AsyncSession, obj: object) -> None:
    session.add(obj)
    await session.flush()


def list_query(hall_id: uuid.UUID) -> Select[tuple[Counter]]:
    """A hall's counters by number."""
    return select(Counter).where(Counter.hall_id == hall_id).order_by(Counter.number, Counter.id)


async def in_hall(session: AsyncSession, hall_id: uuid.UUID) -> list[Counter]:
    return list((await session.execute(list_query(hall_id))).scalars())


async def skills(session: AsyncSession, counter_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[CounterSkill]]:
    """The skills of the given counters."""
    out: dict[uuid.UUID, list[CounterSkill]] = {c: [] for c in counter_ids}
    rows = (await session.execute(_SKILLS, {"ids": list(counter_ids)})).scalars()
    for s in rows:
        out[s.counter_id].append(s)
    return out


async def replace_skills(session: AsyncSession, counter_id: uuid.UUID, new: list[CounterSkill]) -> None:
    """Swap a counter's skills for `new`."""
    await session.execute(delete(CounterSkill).where(CounterSkill.counter_id == counter_id))
    session.add_all(new)
    await session.flush()


async def open_per_category(session: AsyncSession, hall_id: uuid.UUID) -> dict[str, int]:
    """Open counters of a hall per ticket category they serve (a category skill above exclude)."""
    rows = (await session.execute(
        select(CounterSkill.value, func.count(func.distinct(Counter.id)))
        .join(Counter, Counter.id == CounterSkill.counter_id)
        .where(Counter.hall_id == hall_id, Counter.status == "open", CounterSkill.kind == "category",
               CounterSkill.weight > 0).group_by(CounterSkill.value))).all()
    return {c: n for c, n in rows}
