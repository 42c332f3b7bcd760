"""Every query of the notification tables (and the account lookups they need); never commits."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select, any_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.gateway.account.models import Account
from tongban.gateway.notify.models import (Delivery, EscalationContact, LicenceWatch, Message, Preference,
                                           SinkRecord, WeChatGrant)


async def accounts(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Account]:
    if not ids:
        return {}
    rows = (await session.execute(select(Account).where(Account.id.in_(ids), Account.active.is_(True)))).scalars()
    return {a.id: a for a in rows}


async def preferences(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Preference]:
    if not ids:
        return {}
    rows = (await session.execute(select(Preference).where(Preference.account_id.in_(ids)))).scalars()
    return {p.account_id: p for p in rows}


async def recipients(session: AsyncSession, ids: list[uuid.UUID]
                     ) -> dict[uuid.UUID, tuple[Account, Preference | None, frozenset[str]]]:
    """The active accounts among `ids`, each with its preferences and the WeChat templates it holds
    an unused authorisation of, in one query (what `tell` needs of each recipient)."""
    if not ids:
        return {}
    open_grants = (select(func.array_agg(WeChatGrant.template_id.distinct()))
                   .where(WeChatGrant.account_id == Account.id, WeChatGrant.consumed_at.is_(None))
                   .correlate(Account).scalar_subquery())
    stmt = (select(Account, Preference, open_grants).outerjoin(Preference, Preference.account_id == Account.id)
            .where(Account.id.in_(ids), Account.active.is_(True)))
    return {a.id: (a, p, frozenset(g or ())) for a, p, g in (await session.execute(stmt)).all()}


async def preference(session: AsyncSession, account_id: uuid.UUID, for_update: bool = False) -> Preference | None:
    return await session.get(Preference, account_id, with_for_update=for_update)


async def holders(session: AsyncSession, holder_type: str, holder_id: str) -> list[uuid.UUID]:
    """The accounts a licence holder reads it with: the citizen (resident ID), or the company's
    legal representative and administrators (credit code)."""
    if holder_type == "111":
        stmt = (select(Account.id).where(Account.role == "citizen", Account.id_number == holder_id,
                                         Account.active.is_(True))
                .order_by(Account.real_name_level.desc(), Account.created_at).limit(1))
    else:
        stmt = select(Account.id).where(Account.role == "company", Account.credit_code == holder_id,
                                        Account.active.is_(True),
                                        Account.company_role.in_(("legal_representative", "administrator")))
    return list((await session.execute(stmt)).scalars())


async def approvers_of(session: AsyncSession, department: str) -> list[uuid.UUID]:
    stmt = select(Account.id).where(Account.role == "approver", Account.active.is_(True),
                                    any_(Account.departments) == department)
    return list((await session.execute(stmt)).scalars())


async def escalation_contacts(session: AsyncSession, department: str) -> dict[str, list[uuid.UUID]]:
    """The department's heads and the supervising office (督办) watching it or every department."""
    stmt = (select(EscalationContact.role, EscalationContact.account_id)
            .join(Account, Account.id == EscalationContact.account_id).where(Account.active.is_(True))
            .where((EscalationContact.department == department)
                   | ((EscalationContact.role == "supervision") & EscalationContact.department.is_(None))))
    found: dict[str, list[uuid.UUID]] = {"head": [], "supervision": []}
    for role, account_id in (await session.execute(stmt)).all():
        if account_id not in found[role]:
            found[role].append(account_id)
    return found


async def add_message(session: AsyncSession, values: dict[str, Any]) -> uuid.UUID | None:
    """Insert one message; None if the account already has one with this de-duplication key."""
    stmt = insert(Message).values(**values).on_conflict_do_nothing(
        constraint="uq_notify_message_dedup").returning(Message.id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(Delivery).values(rows))


async def recent_count(session: AsyncSession, account_id: uuid.UUID, channel: str,
                       since: dt.datetime) -> tuple[int, dt.datetime | None]:
    """Non-urgent deliveries of the channel planned for the account since `since`, and the earliest."""
    stmt = (select(func.count(), func.min(Delivery.not_before)).join(Message, Message.id == Delivery.message_id)
            .where(Delivery.account_id == account_id, Delivery.channel == channel, Delivery.not_before >= since,
                   Message.urgent.is_(False), Delivery.status != "failed"))
    count, earliest = (await session.execute(stmt)).one()
    return int(count), earliest


async def take_grant(session: AsyncSession, account_id: uuid.UUID, template_id: str) -> WeChatGrant | None:
    """The account's oldest unused authorisation of this template, locked for this transaction."""
    stmt = (select(WeChatGrant).where(WeChatGrant.account_id == account_id, WeChatGrant.template_id == template_id,
                                      WeChatGrant.consumed_at.is_(None))
            .order_by(WeChatGrant.granted_at).limit(1).with_for_update(skip_locked=True))
    return (await session.execute(stmt)).scalar_one_or_none()


def inbox_stmt(account_id: uuid.UUID, unread: bool) -> Select[tuple[Message]]:
    stmt = select(Message).where(Message.account_id == account_id)
    if unread:
        stmt = stmt.where(Message.read_at.is_(None))
    return stmt.order_by(Message.created_at.desc(), Message.id)


async def unread_count(session: AsyncSession, account_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(Message).where(Message.account_id == account_id,
                                                            Message.read_at.is_(None))
    return int((await session.execute(stmt)).scalar_one())


async def message(session: AsyncSession, message_id: uuid.UUID, for_update: bool = False) -> Message | None:
    return await session.get(Message, message_id, with_for_update=for_update)


async def mark_all_read(session: AsyncSession, account_id: uuid.UUID, at: dt.datetime) -> int:
    result = await session.execute(update(Message).where(Message.account_id == account_id,
                                                         Message.read_at.is_(None)).values(read_at=at))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def deliveries_stmt(status: str | None, account_id: uuid.UUID | None) -> Select[tuple[Delivery]]:
    stmt = select(Delivery)
    if status:
        stmt = stmt.where(Delivery.status == status)
    if account_id:
        stmt = stmt.where(Delivery.account_id == account_id)
    return stmt.order_by(Delivery.updated_at.desc(), Delivery.id)


async def delivery(session: AsyncSession, delivery_id: uuid.UUID, for_update: bool = False) -> Delivery | None:
    return await session.get(Delivery, delivery_id, with_for_update=for_update)


async def deliveries_locked(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Delivery]:
    """These deliveries, locked for this transaction, by id (in one query)."""
    if not ids:
        return {}
    stmt = select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id).with_for_update()
    return {d.id: d for d in (await session.execute(stmt)).scalars()}


async def claim_due(session: AsyncSession, now: dt.datetime, limit: int) -> list[Delivery]:
    """Scheduled deliveries whose time has come, locked (other dispatchers skip them)."""
    stmt = (select(Delivery).where(Delivery.status == "scheduled", Delivery.not_before <= now)
            .order_by(Delivery.not_before).limit(limit).with_for_update(skip_locked=True))
    return list((await session.execute(stmt)).scalars())


async def awaiting_receipt(session: AsyncSession, limit: int) -> list[Delivery]:
    stmt = (select(Delivery).where(Delivery.status == "sent").order_by(Delivery.sent_at).limit(limit)
            .with_for_update(skip_locked=True))
    return list((await session.execute(stmt)).scalars())


async def variables_of(session: AsyncSession, message_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    if not message_ids:
        return {}
    rows = await session.execute(select(Message.id, Message.variables).where(Message.id.in_(message_ids)))
    return {mid: values for mid, values in rows.all()}


def sink_stmt(channel: str | None) -> Select[tuple[SinkRecord]]:
    stmt = select(SinkRecord)
    if channel:
        stmt = stmt.where(SinkRecord.channel == channel)
    return stmt.order_by(SinkRecord.id.desc())


def contacts_stmt() -> Select[tuple[EscalationContact]]:
    return select(EscalationContact).order_by(EscalationContact.created_at, EscalationContact.id)


async def add_contact(session: AsyncSession, contact: EscalationContact) -> bool:
    stmt = insert(EscalationContact).values(id=contact.id, account_id=contact.account_id, role=contact.role,
                                            department=contact.department, created_at=contact.created_at)
    return (await session.execute(stmt.on_conflict_do_nothing().returning(EscalationContact.id))).first() is not None


async def watch_licence(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(LicenceWatch).values(**values).on_conflict_do_nothing())


async def licences_expiring(session: AsyncSession, by: dt.date, limit: int) -> list[LicenceWatch]:
    stmt = (select(LicenceWatch).where(LicenceWatch.reminded_at.is_(None), LicenceWatch.valid_until <= by)
            .order_by(LicenceWatch.valid_until).limit(limit).with_for_update(skip_locked=True))
    return list((await session.execute(stmt)).scalars())
