"""Every query of payment orders, notifications, held approvals and reconciliations; never commits."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select, bindparam, case, delete, exists, func, select
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from tongban.cases.case.models import Case
from tongban.cases.catalog_copy.models import CatalogImplementation
from tongban.cases.payment.models import (
    PaymentHeldEvent,
    PaymentNotification,
    PaymentOrder,
    PaymentRule,
    Reconciliation,
)


_CASE = Case.__table__
_IMPL = CatalogImplementation.__table__


def _fees_where(where: Any) -> Any:
    return (select(_IMPL.c.fees).where(where).order_by(_IMPL.c.version.desc()).limit(1)
            .correlate(_CASE).scalar_subquery())


# Built once (Core, bound values): whether a case may need an order, without locking or loading it.
_ORDER_NEED = select(
    _CASE.c.bundle_case_id.is_not(None).label("bundled"),
    exists().where(PaymentOrder.__table__.c.case_id == func.coalesce(_CASE.c.bundle_case_id, _CASE.c.id))
    .label("ordered"),
    case((_CASE.c.implementation_code.is_not(None), _fees_where(_IMPL.c.code == _CASE.c.implementation_code)),
         else_=_fees_where((_IMPL.c.basic_code == _CASE.c.basic_code) & (_IMPL.c.city_code == _CASE.c.city_code)))
    .label("fees"),
).where(_CASE.c.id == bindparam("case_id", type_=PG_UUID(as_uuid=True)))


async def order_need(session: AsyncSession, case_id: uuid.UUID) -> Any:
    """One row for a case known here: `bundled` (its order is its bundle case's), `ordered` (an
    order exists for it or its bundle case) and `fees` (its implementation's fee list, the one
    `fee_of` reads); None for an unknown case."""
    return (await session.execute(_ORDER_NEED, {"case_id": case_id})).first()


async def rule(session: AsyncSession, basic_code: str) -> PaymentRule | None:
    return await session.get(PaymentRule, basic_code)


async def by_case(session: AsyncSession, case_id: uuid.UUID, for_update: bool = False) -> PaymentOrder | None:
    q = select(PaymentOrder).where(PaymentOrder.case_id == case_id)
    return (await session.execute(q.with_for_update() if for_update else q)).scalar_one_or_none()


async def by_number(session: AsyncSession, order_number: str, for_update: bool = False) -> PaymentOrder | None:
    q = select(PaymentOrder).where(PaymentOrder.order_number == order_number)
    return (await session.execute(q.with_for_update() if for_update else q)).scalar_one_or_none()


async def add(session: AsyncSession, row: Any) -> None:
    session.add(row)
    await session.flush()


async def note(session: AsyncSession, **values: Any) -> bool:
    """Record a verified notification; False when the same signed message was recorded before."""
    q = insert(PaymentNotification).values(**values).on_conflict_do_nothing(
        constraint="uq_payment_notification_provider_nonce").returning(PaymentNotification.id)
    return (await session.execute(q)).scalar_one_or_none() is not None


async def notifications(session: AsyncSession, order_number: str) -> list[PaymentNotification]:
    q = select(PaymentNotification).where(PaymentNotification.order_number == order_number).order_by(
        PaymentNotification.id)
    return list((await session.execute(q)).scalars())


async def hold(session: AsyncSession, case_id: uuid.UUID, envelope: dict[str, Any]) -> None:
    await session.execute(insert(PaymentHeldEvent).values(case_id=case_id, envelope=envelope)
                          .on_conflict_do_nothing(index_elements=["case_id"]))


async def release(session: AsyncSession, case_id: uuid.UUID) -> dict[str, Any] | None:
    q = delete(PaymentHeldEvent).where(PaymentHeldEvent.case_id == case_id).returning(PaymentHeldEvent.envelope)
    return (await session.execute(q)).scalar_one_or_none()


async def refunds_due(session: AsyncSession, limit: int = 50) -> list[PaymentOrder]:
    q = (select(PaymentOrder).where(PaymentOrder.state == "refund_pending").order_by(PaymentOrder.updated_at)
         .limit(limit).with_for_update(skip_locked=True))
    return list((await session.execute(q)).scalars())


async def to_query(session: AsyncSession, before: dt.datetime, limit: int = 50) -> list[PaymentOrder]:
    """Unpaid orders a payer has started at a provider whose callback has not come by `before`."""
    q = (select(PaymentOrder).where(PaymentOrder.state == "unpaid", PaymentOrder.provider.is_not(None),
                                    PaymentOrder.updated_at < before,
                                    (PaymentOrder.last_queried_at.is_(None)) | (PaymentOrder.last_queried_at < before))
         .order_by(PaymentOrder.updated_at).limit(limit).with_for_update(skip_locked=True))
    return list((await session.execute(q)).scalars())


async def expired(session: AsyncSession, now: dt.datetime, limit: int = 200) -> list[PaymentOrder]:
    q = (select(PaymentOrder).where(PaymentOrder.state == "unpaid", PaymentOrder.expires_at < now)
         .limit(limit).with_for_update(skip_locked=True))
    return list((await session.execute(q)).scalars())


async def paid_on(session: AsyncSession, provider: str, on_date: dt.date) -> list[PaymentOrder]:
    q = select(PaymentOrder).where(PaymentOrder.provider == provider, PaymentOrder.paid_on == on_date)
    return list((await session.execute(q)).scalars())


async def by_numbers(session: AsyncSession, numbers: list[str]) -> dict[str, PaymentOrder]:
    if not numbers:
        return {}
    q = select(PaymentOrder).where(PaymentOrder.order_number.in_(numbers))
    return {o.order_number: o for o in (await session.execute(q)).scalars()}


async def reconciliation_done(session: AsyncSession, provider: str, on_date: dt.date) -> bool:
    q = select(Reconciliation.id).where(Reconciliation.provider == provider, Reconciliation.on_date == on_date).limit(1)
    return (await session.execute(q)).scalar_one_or_none() is not None


def reconciliations_query(on_date: dt.date | None) -> Select:
    q = select(Reconciliation).order_by(Reconciliation.created_at.desc(), Reconciliation.id)
    return q.where(Reconciliation.on_date == on_date) if on_date is not None else q


def rules_query() -> Select:
    return select(PaymentRule).order_by(PaymentRule.basic_code)
