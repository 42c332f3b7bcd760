import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.partner_item.models import PartnerItem, PartnerSync


async def lock_partner(session: AsyncSession, partner: str, kind: str) -> None:
    """One pull of a kind per partner at a time (replicas and the admin trigger may overlap)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"interop.sync.{kind}.{partner}"})


async def upsert_items(session: AsyncSession, partner: str, rows: Sequence[dict[str, object]],
                       now: dt.datetime) -> None:
    if not rows:
        return
    stmt = insert(PartnerItem).values([{**r, "partner": partner, "withdrawn": False, "synced_at": now} for r in rows])
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[PartnerItem.partner, PartnerItem.item_id],
        set_={"basic_code": stmt.excluded.basic_code, "name": stmt.excluded.name, "case_type": stmt.excluded.case_type,
              "version": stmt.excluded.version, "withdrawn": False, "synced_at": now}))


async def withdraw_others(session: AsyncSession, partner: str, keep: set[uuid.UUID], now: dt.datetime) -> int:
    stmt = update(PartnerItem).where(PartnerItem.partner == partner, PartnerItem.withdrawn.is_(False))
    if keep:
        stmt = stmt.where(PartnerItem.item_id.not_in(keep))
    result = await session.execute(stmt.values(withdrawn=True, synced_at=now))
    return result.rowcount or 0


async def offer_state(session: AsyncSession, partner: str, basic_code: str) -> tuple[bool, bool]:
    """(any item imported from the partner, the partner offers `basic_code`), in one query."""
    row = (await session.execute(select(
        func.count(PartnerItem.item_id) > 0,
        func.coalesce(func.bool_or((PartnerItem.basic_code == basic_code) & PartnerItem.withdrawn.is_(False)), False),
    ).where(PartnerItem.partner == partner))).one()
    return bool(row[0]), bool(row[1])


async def record_sync(session: AsyncSession, partner: str, kind: str, ok: bool, count: int, detail: str | None,
                      now: dt.datetime) -> None:
    values = {"partner": partner, "kind": kind, "ok": ok, "count": count, "detail": detail, "attempted_at": now,
              "succeeded_at": now if ok else None}
    stmt = insert(PartnerSync).values(**values)
    changes = {"ok": ok, "count": count, "detail": detail, "attempted_at": now}
    if ok:
        changes["succeeded_at"] = now
    await session.execute(stmt.on_conflict_do_update(index_elements=[PartnerSync.partner, PartnerSync.kind],
                                                     set_=changes))


async def syncs_of(session: AsyncSession, partner: str) -> Sequence[PartnerSync]:
    return (await session.execute(select(PartnerSync).where(PartnerSync.partner == partner)
                                  .order_by(PartnerSync.kind))).scalars().all()


def list_query(partner: str | None, include_withdrawn: bool) -> Select[tuple[PartnerItem]]:
    stmt = select(PartnerItem).order_by(PartnerItem.partner, PartnerItem.basic_code, PartnerItem.item_id)
    if partner:
        stmt = stmt.where(PartnerItem.partner == partner)
    if not include_withdrawn:
        stmt = stmt.where(PartnerItem.withdrawn.is_(False))
    return stmt
