"""Every query of the notification tables (and the account lookups they need); never commits."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from dataclasses import dataclass

from sqlalchemy import Integer, Select, any_, bindparam, exists, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, insert
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
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


@dataclass(frozen=True)
class Wishes:
    """What `tell` reads of an account's preferences (a plain copy: no ORM object per message)."""

    sms: bool
    wechat: bool
    quiet_start: dt.time | None
    quiet_end: dt.time | None
    phone: str | None
    muted: list[str]


@dataclass(frozen=True)
class Recipient:
    """One active account as `tell` needs it: its number and role, its wishes (None: it set none),
    the WeChat templates it holds an unused authorisation of, and, per outside channel, when the
    last `limit` (the hourly limit) of its non-urgent, not failed deliveries planned since `since`
    go (sorted): the end of its line, the hourly limit's input."""

    id: uuid.UUID
    phone: str | None
    role: str
    pref: Wishes | None
    open_grants: frozenset[str]
    recent: dict[str, list[dt.datetime]]


_ACCOUNT = Account.__table__
_PREFERENCE = Preference.__table__
_GRANT = WeChatGrant.__table__
_MESSAGE = Message.__table__
_DELIVERY = Delivery.__table__
_MESSAGE_COLUMNS = ("id", "account_id", "kind", "dedup_key", "urgent", "title", "body", "variables", "event_id",
                    "event_type", "event_at", "created_at")
_DELIVERY_COLUMNS = ("id", "message_id", "account_id", "channel", "address", "template_id", "status", "not_before",
                     "deferred", "attempts", "created_at", "updated_at")


def _recent_of(channel: str) -> Any:
    # The last `limit` (the hourly limit) of the line, scheduled, sent or delivered (an index range
    # of ix_notify_delivery_recent read backwards, never the backlog): the next delivery goes after
    # the last and an hour after the `limit`-th last, so no hour holding it holds more than `limit`.
    last = (select(_DELIVERY.c.not_before.label("at"))
            .select_from(_DELIVERY.join(_MESSAGE, _MESSAGE.c.id == _DELIVERY.c.message_id))
            .where(_DELIVERY.c.account_id == _ACCOUNT.c.id, _DELIVERY.c.channel == channel,
                   _DELIVERY.c.not_before >= bindparam("since"), _MESSAGE.c.urgent.is_(False),
                   _DELIVERY.c.status != "failed")
            .order_by(_DELIVERY.c.not_before.desc()).limit(bindparam("limit", type_=Integer))
            .correlate(_ACCOUNT).subquery())
    return select(func.array_agg(aggregate_order_by(last.c.at, last.c.at))).correlate(_ACCOUNT).scalar_subquery()


# Built once (Core, bound values): the recipients with their preferences, open authorisations and
# recent deliveries per channel, in one statement.
_RECIPIENTS = (
    select(_ACCOUNT.c.id, _ACCOUNT.c.phone, _ACCOUNT.c.role, _PREFERENCE.c.account_id.label("has_pref"),
           _PREFERENCE.c.sms, _PREFERENCE.c.wechat, _PREFERENCE.c.quiet_start, _PREFERENCE.c.quiet_end,
           _PREFERENCE.c.phone.label("pref_phone"), _PREFERENCE.c.muted,
           select(func.array_agg(_GRANT.c.template_id.distinct()))
           .where(_GRANT.c.account_id == _ACCOUNT.c.id, _GRANT.c.consumed_at.is_(None))
           .correlate(_ACCOUNT).scalar_subquery().label("grants"),
           _recent_of("sms").label("recent_sms"), _recent_of("wechat").label("recent_wechat"))
    .select_from(_ACCOUNT.outerjoin(_PREFERENCE, _PREFERENCE.c.account_id == _ACCOUNT.c.id))
    .where(_ACCOUNT.c.id == any_(bindparam("ids", type_=ARRAY(PG_UUID(as_uuid=True)))),
           _ACCOUNT.c.active.is_(True)))


async def recipients(session: AsyncSession, ids: list[uuid.UUID], since: dt.datetime,
                     limit: int) -> dict[uuid.UUID, Recipient]:
    """The active accounts among `ids`, each with its preferences, the WeChat templates it holds an
    unused authorisation of and the last `limit` of its non-urgent deliveries planned since `since`
    on each channel (in order), in one query."""
    if not ids:
        return {}
    found: dict[uuid.UUID, Recipient] = {}
    for r in (await session.execute(_RECIPIENTS, {"ids": ids, "since": since, "limit": max(limit, 0)})).all():
        pref = (Wishes(r.sms, r.wechat, r.quiet_start, r.quiet_end, r.pref_phone, r.muted or [])
                if r.has_pref is not None else None)
        recent = {"sms": list(r.recent_sms or ()), "wechat": list(r.recent_wechat or ())}
        found[r.id] = Recipient(r.id, r.phone, r.role, pref, frozenset(r.grants or ()), recent)
    return found


async def preference(session: AsyncSession, account_id: uuid.UUID, for_update: bool = False) -> Preference | None:
    return await session.get(Preference, account_id, with_for_update=for_update)


_HOLDER_PERSON = (select(_ACCOUNT.c.id).where(_ACCOUNT.c.role == "citizen", _ACCOUNT.c.id_number == bindparam("holder"),
                                              _ACCOUNT.c.active.is_(True))
                  .order_by(_ACCOUNT.c.real_name_level.desc(), _ACCOUNT.c.created_at).limit(1))
_HOLDER_COMPANY = select(_ACCOUNT.c.id).where(_ACCOUNT.c.role == "company", _ACCOUNT.c.credit_code == bindparam("holder"),
                                              _ACCOUNT.c.active.is_(True),
                                              _ACCOUNT.c.company_role.in_(("legal_representative", "administrator")))


async def holders(session: AsyncSession, holder_type: str, holder_id: str) -> list[uuid.UUID]:
    """The accounts a licence holder reads it with: the citizen (resident ID), or the company's
    legal representative and administrators (credit code)."""
    stmt = _HOLDER_PERSON if holder_type == "111" else _HOLDER_COMPANY
    return list((await session.execute(stmt, {"holder": holder_id})).scalars())


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


_ADD_MESSAGES = (insert(_MESSAGE).on_conflict_do_nothing(constraint="uq_notify_message_dedup")
                 .returning(_MESSAGE.c.id))
_ADD_DELIVERIES = insert(_DELIVERY)
# One message and its one delivery in one round trip: the delivery goes in only if the message
# did (a message already told, the same de-duplication key, gets none).
_NEW_MESSAGE = (insert(_MESSAGE).values({c: bindparam(f"m_{c}", type_=_MESSAGE.c[c].type) for c in _MESSAGE_COLUMNS})
                .on_conflict_do_nothing(constraint="uq_notify_message_dedup").returning(_MESSAGE.c.id).cte("m"))
_WITH_DELIVERY = (select(_NEW_MESSAGE.c.id).add_cte(
    insert(_DELIVERY).from_select(
        _DELIVERY_COLUMNS,
        select(*[bindparam(f"d_{c}", type_=_DELIVERY.c[c].type).label(c) for c in _DELIVERY_COLUMNS])
        .where(exists(select(_NEW_MESSAGE.c.id))))
    .cte("d")))


async def add_messages(session: AsyncSession, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert messages (one statement); the ids of those inserted (not those whose account already
    has one with the same de-duplication key)."""
    if not rows:
        return set()
    return set((await session.execute(_ADD_MESSAGES, rows)).scalars())


async def add_message_with_delivery(session: AsyncSession, message: dict[str, Any], delivery: dict[str, Any]) -> bool:
    """One message and its delivery (one statement); False, and nothing written, if the message
    was a duplicate."""
    params = {f"m_{c}": message[c] for c in _MESSAGE_COLUMNS} | {f"d_{c}": delivery[c] for c in _DELIVERY_COLUMNS}
    return (await session.execute(_WITH_DELIVERY, params)).first() is not None


async def add_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(_ADD_DELIVERIES, rows)


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


async def urgent_among(session: AsyncSession, message_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these messages are urgent (their deliveries never wait for the hourly limit)."""
    if not message_ids:
        return set()
    return set((await session.execute(select(Message.id).where(Message.id.in_(message_ids),
                                                               Message.urgent.is_(True)))).scalars())


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


_WATCH_LICENCE = insert(LicenceWatch.__table__).on_conflict_do_nothing()


async def watch_licence(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(_WATCH_LICENCE, values)


async def licences_expiring(session: AsyncSession, by: dt.date, limit: int) -> list[LicenceWatch]:
    stmt = (select(LicenceWatch).where(LicenceWatch.reminded_at.is_(None), LicenceWatch.valid_until <= by)
            .order_by(LicenceWatch.valid_until).limit(limit).with_for_update(skip_locked=True))
    return list((await session.execute(stmt)).scalars())
