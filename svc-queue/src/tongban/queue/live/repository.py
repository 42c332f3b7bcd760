import datetime as dt
import uuid

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.queue.counter.models import Counter, CounterSkill
from tongban.queue.live.models import HallStatsPublished
from tongban.queue.ticket.models import Ticket


async def recent_calls(session: AsyncSession, hall_id: uuid.UUID, day: dt.date, n: int = 10) -> list[tuple]:
    """The hall's last `n` calls today: (number, counter number, called at)."""
    return list((await session.execute(
        select(Ticket.number, Counter.number, Ticket.called_at).join(Counter, Counter.id == Ticket.counter_id)
        .where(Ticket.hall_id == hall_id, Ticket.day == day, Ticket.called_at.is_not(None))
        .order_by(Ticket.called_at.desc()).limit(n))).all())


async def halls_serving_item(session: AsyncSession, item_code: str) -> set[uuid.UUID]:
    """Halls with a counter that names the item as a skill, or a comprehensive counter that does
    not exclude it."""
    named = select(Counter.hall_id).join(CounterSkill, CounterSkill.counter_id == Counter.id).where(
        CounterSkill.kind == "item", CounterSkill.value == item_code, CounterSkill.weight > 0)
    excluded = select(CounterSkill.counter_id).where(CounterSkill.kind == "item", CounterSkill.value == item_code,
                                                     CounterSkill.weight == 0)
    comprehensive = select(Counter.hall_id).where(Counter.kind == "comprehensive", Counter.id.not_in(excluded))
    return set((await session.execute(named.union(comprehensive))).scalars())


async def open_counters(session: AsyncSession) -> dict[uuid.UUID, int]:
    """Open counters per hall."""
    rows = (await session.execute(select(Counter.hall_id, func.count()).where(Counter.status == "open")
                                  .group_by(Counter.hall_id))).all()
    return {h: n for h, n in rows}


async def day_stats(session: AsyncSession, day: dt.date) -> dict[uuid.UUID, dict]:
    """Per hall on a day: tickets, served, no-shows, average wait and service seconds, ratings."""
    wait = func.extract("epoch", Ticket.called_at - Ticket.queued_at)
    service = func.extract("epoch", Ticket.finished_at - func.coalesce(Ticket.started_at, Ticket.called_at))
    rows = (await session.execute(select(
        Ticket.hall_id, func.count().label("tickets"),
        func.count().filter(Ticket.status == "done").label("served"),
        func.count().filter(Ticket.status == "no_show").label("no_shows"),
        func.avg(wait).filter(Ticket.called_at.is_not(None)).label("wait"),
        func.avg(service).filter(Ticket.status == "done").label("service"),
        func.count(Ticket.rating).label("ratings"), func.avg(Ticket.rating).label("rating"),
        func.sum(wait).filter(Ticket.called_at.is_not(None)).label("wait_sum"),
        func.count().filter(Ticket.called_at.is_not(None)).label("called"),
        func.sum(Ticket.rating).label("rating_sum"),
        func.sum(service).filter(Ticket.status == "done").label("service_sum"),
    ).where(Ticket.day == day).group_by(Ticket.hall_id))).mappings().all()
    return {r["hall_id"]: dict(r) for r in rows}


# One publisher of hall statistics at a time across replicas: a fixed key ("queustat" in ASCII).
_STATS_LOCK = 0x71756575_73746174 & 0x7FFFFFFFFFFFFFFF


async def try_stats_lock(session: AsyncSession) -> bool:
    """Take the transaction-scoped lock of the statistics publication, if nobody holds it."""
    return bool((await session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _STATS_LOCK})).scalar())


async def published_digests(session: AsyncSession, day: dt.date) -> dict[uuid.UUID, str]:
    """The digest of the last statistics event per hall on a day."""
    rows = (await session.execute(select(HallStatsPublished.hall_id, HallStatsPublished.digest)
                                  .where(HallStatsPublished.day == day))).all()
    return {h: d for h, d in rows}


async def remember_published(session: AsyncSession, hall_id: uuid.UUID, day: dt.date, digest: str) -> None:
    stmt = insert(HallStatsPublished).values(hall_id=hall_id, day=day, digest=digest)
    await session.execute(stmt.on_conflict_do_update(index_elements=["hall_id", "day"], set_={
        "digest": stmt.excluded.digest, "published_at": func.now()}))
