"""The rules: who is told what, on which channels and when.

`tell` turns notices (an account, a kind of news, its variables, a de-duplication key) into one
in-app message each and a delivery per outside channel the account accepts: SMS to its mobile
number, a WeChat subscribe message only while it holds an unused authorisation of that template
(which the message consumes). Non-urgent deliveries wait out the account's quiet hours and its
hourly limit per channel (deferred, never dropped); urgent ones ("you are next", "go to window 3")
go at once. The same news told twice to the same account is one message. Never commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from tongban.gateway.db import audit
from tongban.gateway.notify import repository
from tongban.gateway.notify.config import NotifySettings
from tongban.gateway.notify.errors import AccountGone, ContactAccountUnfit, DeliveryNotFound, DeliveryNotFailed, MessageNotFound
from tongban.gateway.notify.models import Delivery, EscalationContact, Message, Preference, WeChatGrant
from tongban.gateway.notify.schemas import ContactCreate, GrantCreate, PreferenceUpdate
from tongban.gateway.notify.templates import BOOK, Kind, TemplateBook
from tongban.gateway.notify.wakeup import WAKEUP
from tongban.shared import clock
from tongban.shared.auth import Principal

log = logging.getLogger("tongban.gateway.notify")


@dataclass(frozen=True)
class Notice:
    account_id: uuid.UUID
    kind: str
    values: dict[str, Any]
    dedup_key: str
    event_id: str | None = None
    event_type: str | None = None
    event_at: dt.datetime | None = None


@dataclass
class Told:
    messages: int = 0
    deliveries: int = 0
    duplicates: int = 0
    skipped: list[str] = field(default_factory=list)


def in_quiet_hours(at: dt.datetime, start: dt.time, end: dt.time) -> dt.datetime | None:
    """When the quiet hours holding `at` end (Beijing time), or None outside them. start == end: none."""
    if start == end:
        return None
    local = at.astimezone(clock.CHINA)
    t = local.time().replace(tzinfo=None)
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if (start < end or t < end) else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, end, tzinfo=clock.CHINA).astimezone(dt.UTC)


def quiet_hours_of(pref: Preference | repository.Wishes | None, settings: NotifySettings) -> tuple[dt.time, dt.time]:
    if pref is not None and pref.quiet_start is not None and pref.quiet_end is not None:
        return pref.quiet_start, pref.quiet_end
    return settings.quiet_start, settings.quiet_end


async def tell(session: AsyncSession, notices: Iterable[Notice], settings: NotifySettings,
               book: TemplateBook = BOOK) -> Told:
    """One read of the recipients (preferences, authorisations, recent deliveries), then the
    messages and their deliveries: one statement for a lone message and its SMS, else one for the
    messages and one for the deliveries (plus one per WeChat authorisation taken)."""
    notices = list(notices)
    told = Told()
    due_now = False
    now = clock.now()
    # Every delivery goes at or after now: what was planned before now - 1 h shares no hour with it.
    people = await repository.recipients(session, list({n.account_id for n in notices}), now - HOUR, settings.per_hour)
    chosen: list[tuple[repository.Recipient, Kind, dict[str, Any]]] = []
    for notice in notices:
        person = people.get(notice.account_id)
        if person is None:
            told.skipped.append(f"{notice.kind}: no active account")
            continue
        kind = book.kind(notice.kind)
        if person.pref is not None and kind.key in person.pref.muted:
            told.skipped.append(f"{notice.kind}: muted")
            continue
        values = book.values_for(kind, notice.values)
        title, body = kind.render(values)
        chosen.append((person, kind, {
            "id": uuid.uuid4(), "account_id": person.id, "kind": kind.key, "dedup_key": notice.dedup_key[:200],
            "urgent": kind.urgent, "title": title, "body": body, "variables": values, "event_id": notice.event_id,
            "event_type": notice.event_type, "event_at": notice.event_at, "created_at": now}))
    if len(chosen) == 1 and not _wants_wechat(*chosen[0][:2]):
        # The usual case (one event, one account): the message and its SMS in one statement.
        person, kind, message = chosen[0]
        sms = _sms(person, kind, message["id"], settings, now)
        inserted = (await repository.add_message_with_delivery(session, message, sms) if sms is not None
                    else bool(await repository.add_messages(session, [message])))
        if inserted:
            told.messages, told.deliveries = 1, int(sms is not None)
            due_now = sms is not None and sms["not_before"] <= now
        else:
            told.duplicates = 1
    elif chosen:
        inserted_ids = await repository.add_messages(session, [m for _, _, m in chosen])
        rows: list[dict[str, Any]] = []
        for person, kind, message in chosen:   # in the notices' order: each counts toward the next's hourly limit
            message_id = message["id"]
            if message_id not in inserted_ids:
                told.duplicates += 1
                continue
            told.messages += 1
            if (sms := _sms(person, kind, message_id, settings, now)) is not None:
                rows.append(sms)
            if _wants_wechat(person, kind):
                grant = await repository.take_grant(session, person.id, kind.wechat or "")
                if grant is not None:   # no authorisation: nothing on this channel (WeChat would refuse it)
                    grant.consumed_at, grant.message_id = now, message_id
                    # The mini-program user's openid would be bound at WeChat login; the account stands for it here.
                    rows.append(_planned(person, message_id, "wechat", str(person.id), kind.wechat or "", kind.urgent,
                                         settings, now))
        await repository.add_deliveries(session, rows)
        told.deliveries = len(rows)
        due_now = any(row["not_before"] <= now for row in rows)
    if due_now:
        # Deliveries that wait (quiet hours, the hourly limit) are the dispatcher's poll's: waking it
        # for them cost two empty passes (transactions) per consumer commit.
        _wake_after_commit(session)
    return told


HOUR = dt.timedelta(hours=1)


def _wants_wechat(person: repository.Recipient, kind: Kind) -> bool:
    """A WeChat message is possible (an unused authorisation was read with the account: none to
    take otherwise)."""
    return bool(kind.wechat and (person.pref is None or person.pref.wechat) and person.role in ("citizen", "company")
                and kind.wechat in person.open_grants)


def _sms(person: repository.Recipient, kind: Kind, message_id: uuid.UUID, settings: NotifySettings,
         now: dt.datetime) -> dict[str, Any] | None:
    pref = person.pref
    phone = (pref.phone if pref is not None and pref.phone else None) or person.phone
    if kind.sms and phone and (pref is None or pref.sms):
        return _planned(person, message_id, "sms", phone, kind.sms, kind.urgent, settings, now)
    return None


def _planned(person: repository.Recipient, message_id: uuid.UUID, channel: str, address: str, template_id: str,
             urgent: bool, settings: NotifySettings, now: dt.datetime) -> dict[str, Any]:
    """A delivery's row, its time set by quiet hours and the hourly limit. A non-urgent delivery
    joins the end of the account's line on the channel (its last `per_hour` non-urgent deliveries,
    scheduled or sent, read with it, plus those planned since): it goes no earlier than the last of
    them (the line keeps its order; a retry the dispatcher moved later is waited for) and no
    earlier than an hour after the `per_hour`-th last. Then every hour holding it holds at most
    `per_hour - 1` others (they all lie before it), whatever the line behind: the first slot after
    the line at which the sliding window has room."""
    not_before, deferred = now, None
    if not urgent:
        if (quiet_end := in_quiet_hours(now, *quiet_hours_of(person.pref, settings))) is not None:
            not_before, deferred = quiet_end, "quiet_hours"
        if (slot := _take_slot(person.recent[channel], not_before, settings.per_hour)) > not_before:
            not_before, deferred = slot, "rate_limit"
    return {"id": uuid.uuid4(), "message_id": message_id, "account_id": person.id, "channel": channel,
            "address": address, "template_id": template_id, "status": "scheduled", "not_before": not_before,
            "deferred": deferred, "attempts": 0, "created_at": now, "updated_at": now}


def _take_slot(line: list[dt.datetime], earliest: dt.datetime, per_hour: int) -> dt.datetime:
    """The first slot at or after `earliest` at the end of a line (an account's non-urgent
    deliveries on a channel, sorted, at least its last `per_hour`): after its last and an hour
    after its `per_hour`-th last, so every hour holding the slot holds at most `per_hour - 1`
    others (they all lie before it). The slot joins the line (counts toward the next)."""
    slot = earliest
    if line:
        slot = max(slot, line[-1])
        if 0 < per_hour <= len(line):
            slot = max(slot, line[-per_hour] + HOUR)
    line.append(slot)
    if per_hour > 0:
        del line[:-per_hour]
    return slot


async def requeue(session: AsyncSession, items: list[tuple[Delivery, dt.datetime]], settings: NotifySettings) -> None:
    """Put deliveries back in line at or after the given times (the dispatcher's back-off, an
    admin's retry of a dead letter): an urgent one at that time, a non-urgent one no earlier than
    its account's quiet hours and hourly limit allow, at the end of its line (one read of the lines
    for all of them; a retry keeps its slot or moves later, never earlier). Call it before changing
    their status: one still scheduled leaves its old place in the line, a dead letter had none."""
    old = {d.id: (d.status, d.not_before) for d, _ in items}   # (set before any read: reads flush)
    urgent = await repository.urgent_among(session, list({d.message_id for d, _ in items}))
    waiting = sorted(((d, at) for d, at in items if d.message_id not in urgent),
                     key=lambda item: (item[1], old[item[0].id][1]))
    if not waiting:
        for d, at in items:
            d.not_before = at
        return
    since = min(at for _, at in waiting) - HOUR
    per_account: dict[uuid.UUID, int] = {}
    for d, _ in waiting:
        per_account[d.account_id] = per_account.get(d.account_id, 0) + 1
    # Read past the limit by each account's own: once they leave, its last `per_hour` remain.
    people = await repository.recipients(session, list(per_account), since,
                                         max(settings.per_hour, 0) + max(per_account.values()))
    for d, at in items:
        d.not_before = at
    for d, _ in waiting:                        # first every one out of its old place...
        status, was = old[d.id]
        line = people[d.account_id].recent[d.channel] if d.account_id in people else None
        if line is not None and status != "failed" and was in line:
            line.remove(was)
    for d, at in waiting:                       # ...then each at the end of the line, in order
        person = people.get(d.account_id)
        if person is None:                      # the account is gone: nothing to keep apart
            continue
        earliest = in_quiet_hours(at, *quiet_hours_of(person.pref, settings)) or at
        slot = _take_slot(person.recent[d.channel], earliest, settings.per_hour)
        if slot > at:
            d.not_before, d.deferred = slot, ("quiet_hours" if slot == earliest else "rate_limit")


def _wake_after_commit(session: AsyncSession) -> None:
    """Wake this process's dispatcher once the new deliveries due now are committed (visible to it)."""
    session.sync_session.info[WAKE_FLAG] = True


WAKE_FLAG = "notify_wake"


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # One listener for every session of the process (a per-session listener costs more than the
    # work it announces); only sessions that planned deliveries carry the flag.
    if session.info.pop(WAKE_FLAG, False):
        WAKEUP.poke()


# --- the account's own: inbox, preferences, WeChat authorisations -------------------------------

async def get_message(session: AsyncSession, caller: Principal, message_id: uuid.UUID,
                      for_update: bool = False) -> Message:
    found = await repository.message(session, message_id, for_update)
    if found is None or str(found.account_id) != caller.sub:
        raise MessageNotFound()   # another account's message does not exist for the caller
    return found


async def mark_read(session: AsyncSession, caller: Principal, message_id: uuid.UUID) -> Message:
    found = await get_message(session, caller, message_id, for_update=True)
    if found.read_at is None:
        found.read_at = clock.now()
        await audit.record(session, caller, "notify.message_read", "notify_message", str(found.id))
    return found


async def mark_all_read(session: AsyncSession, caller: Principal) -> int:
    count = await repository.mark_all_read(session, uuid.UUID(caller.sub), clock.now())
    if count:
        await audit.record(session, caller, "notify.inbox_read", "account", caller.sub, detail={"messages": count})
    return count


async def own_account(session: AsyncSession, caller: Principal) -> uuid.UUID:
    """The caller's account, which must exist and be active to keep preferences or authorisations."""
    account_id = uuid.UUID(caller.sub)
    if account_id not in await repository.accounts(session, [account_id]):
        raise AccountGone()
    return account_id


async def update_preferences(session: AsyncSession, caller: Principal, data: PreferenceUpdate) -> Preference:
    account_id = await own_account(session, caller)
    pref = await repository.preference(session, account_id, for_update=True)
    if pref is None:
        pref = Preference(account_id=account_id, sms=True, wechat=True, muted=[])
        session.add(pref)
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        setattr(pref, name, sorted(set(value or ())) if name == "muted" else value)
    pref.updated_at = clock.now()
    await session.flush()
    detail = {k: (v if k != "phone" else "changed") for k, v in data.model_dump(exclude_unset=True, mode="json").items()}
    await audit.record(session, caller, "notify.preferences_changed", "account", caller.sub, detail=detail)
    return pref


async def record_grant(session: AsyncSession, caller: Principal, data: GrantCreate) -> WeChatGrant:
    """The resident allowed one message of this template (wx.requestSubscribeMessage said "accept")."""
    grant = WeChatGrant(id=uuid.uuid4(), account_id=await own_account(session, caller), template_id=data.template_id,
                        granted_at=clock.now())
    session.add(grant)
    await session.flush()
    await audit.record(session, caller, "notify.wechat_authorised", "notify_wechat_grant", str(grant.id),
                       detail={"template_id": data.template_id})
    return grant


# --- staff and admins: escalation contacts, dead letters ----------------------------------------

async def add_contact(session: AsyncSession, admin: Principal, data: ContactCreate) -> EscalationContact:
    people = await repository.accounts(session, [data.account_id])
    account = people.get(data.account_id)
    if account is None or account.role not in ("approver", "admin", "auditor", "clerk"):
        raise ContactAccountUnfit(f"account {data.account_id} is no active staff account")
    contact = EscalationContact(id=uuid.uuid4(), account_id=data.account_id, role=data.role,
                                department=data.department, created_at=clock.now())
    if await repository.add_contact(session, contact):
        await audit.record(session, admin, "notify.escalation_contact_added", "notify_escalation_contact",
                           str(contact.id), data.reason, {"role": data.role, "department": data.department,
                                                          "account_id": str(data.account_id)})
    return contact


async def retry(session: AsyncSession, admin: Principal, delivery_id: uuid.UUID, reason: str,
                settings: NotifySettings) -> Any:
    """Put a dead letter back in the line (after the provider or the number was fixed): now, or
    when the account's quiet hours and hourly limit allow."""
    found = await repository.delivery(session, delivery_id, for_update=True)
    if found is None:
        raise DeliveryNotFound()
    if found.status != "failed":
        raise DeliveryNotFailed(f"the delivery is {found.status}; only failed ones are retried")
    now = clock.now()
    found.deferred = None
    await requeue(session, [(found, now)], settings)   # while still failed: it had no place in line
    found.status, found.attempts, found.updated_at = "scheduled", 0, now
    await audit.record(session, admin, "notify.delivery_retried", "notify_delivery", str(found.id), reason)
    if found.not_before <= now:   # one that waits (quiet hours, the hourly limit) is the poll's
        _wake_after_commit(session)
    return found
