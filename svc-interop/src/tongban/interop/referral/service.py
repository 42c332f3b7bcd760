"""Hotline referrals (12345 跨城转办): a ticket taken here that belongs to the partner city is
referred there (`hotline.refer`, through the outbound outbox like every message), and the
partner's referrals are received here. The referral id is the idempotency key across resends.

A received ticket is announced as `interop.referral.received` with the ticket itself; svc-cases
opens a ticket of its own for it (linked by the referral id). Its steps come back as
`cases.ticket.*` events: replied, closed and reopened are reported to the referring city as
`hotline.status` messages, which update the outbound referral there.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.interop.db import audit, outbox
from tongban.interop.delivery import service as delivery
from tongban.interop.delivery.models import OutboundMessage
from tongban.interop.exchange.service import Inbound
from tongban.interop.forwarding import repository as numbers
from tongban.interop.partner import service as partners
from tongban.interop.partner.errors import PartnerNotFound
from tongban.interop.referral import repository
from tongban.interop.referral.errors import ReferralNotFound
from tongban.interop.referral.models import Referral
from tongban.interop.referral.schemas import (
    HotlineReferral,
    ReferralAck,
    ReferralCreate,
    ReferralStatusAck,
    ReferralStatusChange,
)
from tongban.shared import clock
from tongban.shared.auth import Principal
from tongban.shared.contracts.cases import TICKET_OPENED, TicketChangedV1
from tongban.shared.contracts.interop import (
    REFERRAL_PROGRESSED,
    REFERRAL_RECEIVED,
    REFERRAL_SENT,
    HotlineTicketV1,
    ReferralV1,
)
from tongban.shared.events.envelope import make_event
from tongban.shared.events.inbox import PoisonMessage
from tongban.shared.ids import mask_phone

EXCHANGE_REFERRALS = "/api/v1/interop/exchange/referrals"
EXCHANGE_REFERRAL_STATUS = "/api/v1/interop/exchange/referral-status"
HOTLINE = "hotline"
# Ticket steps in svc-cases the referring city hears of (`opened` is answered by our 202).
REPORTED_TICKET_STEPS = frozenset({"replied", "closed", "reopened"})


def _ticket(r: Referral) -> HotlineTicketV1 | None:
    if r.kind != HOTLINE or r.direction != "inbound":
        return None
    p = r.payload
    return HotlineTicketV1(ticket_number=p["ticket_number"], category=p["category"], summary=p["summary"],
                           content=p["content"], caller_name=p["caller"]["name"], caller_phone=p["caller"].get("phone"))


def _event(r: Referral, progress_status: str | None = None, reply: str | None = None) -> ReferralV1:
    remote = r.payload.get("reference_number" if r.direction == "inbound" else "remote_reference_number")
    return ReferralV1(referral_id=r.id, reference_number=r.reference_number, kind=r.kind, direction=r.direction,
                      partner=r.partner, status=r.status, partner_reference_number=remote, ticket=_ticket(r),
                      progress_status=progress_status, reply=reply)


def _with_entry(progress: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Messages and events may overtake each other: keep the steps ordered by their time."""
    return sorted([*progress, entry], key=lambda e: e["changed_at"])


async def refer(session: AsyncSession, body: ReferralCreate, region: str, actor: Principal) -> Referral:
    """Refer a hotline ticket to the partner city it belongs to."""
    partner = await partners.get(session, body.partner)
    if partner.status != "active":
        raise PartnerNotFound(f"{body.partner} is suspended")
    ticket = body.model_dump(exclude={"partner"})
    referral = Referral(id=uuid.uuid4(), reference_number=await numbers.next_reference(session, region, "H"),
                        kind=HOTLINE, direction="outbound", partner=partner.region_code, partner_ref="",
                        payload=ticket, status="referring", created_by=actor.sub)
    referral.partner_ref = str(referral.id)  # until the partner answers with its own number (kept in payload)
    await repository.add(session, referral)
    wire = HotlineReferral(referral_ref=referral.id, reference_number=referral.reference_number, **ticket)
    await delivery.enqueue(session, partner.region_code, "hotline.refer", EXCHANGE_REFERRALS,
                           wire.model_dump(mode="json"), case_number=referral.reference_number,
                           subject_id=str(referral.id))
    await audit.record(session, actor, "referral.sent", "referral", str(referral.id),
                       detail={"partner": referral.partner, "ticket_number": body.ticket_number})
    await outbox.add(session, make_event("interop", REFERRAL_SENT, _event(referral), str(referral.id)))
    return referral


async def on_referral_delivered(session: AsyncSession, message: OutboundMessage, answer: dict[str, Any]) -> None:
    """The partner took the referral: keep its reference number."""
    referral = await repository.get(session, uuid.UUID(message.subject_id or ""), for_update=True)
    if referral is None:
        return
    ack = ReferralAck.model_validate(answer)
    referral.payload = {**referral.payload, "remote_reference_number": ack.reference_number}
    referral.status = "accepted_by_partner"
    await audit.record(session, "interop", "referral.accepted", "referral", str(referral.id),
                       detail={"remote_reference_number": ack.reference_number})


async def on_referral_failed(session: AsyncSession, message: OutboundMessage, failure: dict[str, Any]) -> None:
    """The partner refused the referral for good (e.g. `hotline.refer` not granted) or we gave up."""
    referral = await repository.get(session, uuid.UUID(message.subject_id or ""), for_update=True)
    if referral is None or referral.status != "referring":
        return
    referral.status = "refused_by_partner" if failure.get("refused") else "undeliverable"
    referral.updated_at = clock.now()
    await audit.record(session, "interop", "referral.failed", "referral", str(referral.id),
                       reason=str(failure.get("error") or "")[:1000] or None,
                       detail={"message_id": str(message.id), "partner_status": failure.get("status")})


async def receive(session: AsyncSession, inbound: Inbound, body: HotlineReferral, region: str) -> ReferralAck:
    """A partner refers one of its hotline tickets to us; the same referral sent again is the same one."""
    sender = inbound.partner.region_code
    existing = await repository.find_inbound(session, sender, HOTLINE, str(body.referral_ref))
    if existing is not None:
        return ReferralAck(reference_number=existing.reference_number, status=existing.status,
                           received_at=existing.created_at)
    referral = Referral(id=uuid.uuid4(), reference_number=await numbers.next_reference(session, region, "H"),
                        kind=HOTLINE, direction="inbound", partner=sender, partner_ref=str(body.referral_ref),
                        payload=body.model_dump(mode="json"), status="received", created_by=f"partner:{sender}",
                        created_at=clock.now())
    await repository.add(session, referral)
    await audit.record(session, f"partner:{sender}", "referral.received", "referral", str(referral.id),
                       detail={"partner_reference_number": body.reference_number, "message_id": inbound.message_id,
                               "caller_phone": mask_phone(body.caller.phone) if body.caller.phone else None})
    await outbox.add(session, make_event("interop", REFERRAL_RECEIVED, _event(referral), str(referral.id)))
    return ReferralAck(reference_number=referral.reference_number, status=referral.status,
                       received_at=referral.created_at)


async def report_ticket_step(session: AsyncSession, event_type: str, raw: dict[str, Any]) -> None:
    """svc-cases' ticket for a partner's referral moved (`cases.ticket.*`): keep it, and queue
    `hotline.status` to the referring city for the steps it hears of."""
    change = TicketChangedV1.model_validate(raw)
    if change.referral_id is None:
        return
    referral = await repository.get(session, change.referral_id, for_update=True)
    if referral is None or referral.direction != "inbound" or referral.kind != HOTLINE:
        # svc-cases links a ticket only to a referral it learnt from our committed event.
        raise PoisonMessage(f"ticket {change.ticket_number} names no referral received here ({change.referral_id})")
    step = event_type.removeprefix("cases.ticket.")
    if event_type == TICKET_OPENED:
        referral.payload = {**referral.payload, "local_ticket_id": str(change.ticket_id),
                            "local_ticket_number": change.ticket_number}
        if referral.status == "received":  # an opened event overtaken by a later step changes no status
            referral.status = "ticket_opened"
        referral.updated_at = clock.now()
        await audit.record(session, "system:cases-events", "referral.ticket_opened", "referral", str(referral.id),
                           detail={"ticket_number": change.ticket_number})
        return
    if step not in REPORTED_TICKET_STEPS:
        return
    wire = ReferralStatusChange(referral_ref=uuid.UUID(referral.partner_ref), reference_number=referral.reference_number,
                                ticket_number=change.ticket_number, status=step, reply=change.reply,
                                changed_at=change.at)
    referral.progress = _with_entry(referral.progress, {**wire.model_dump(mode="json", exclude={"referral_ref"})})
    referral.status, referral.updated_at = referral.progress[-1]["status"], clock.now()
    await delivery.enqueue(session, referral.partner, "hotline.status", EXCHANGE_REFERRAL_STATUS,
                           wire.model_dump(mode="json"), case_number=referral.payload.get("reference_number"),
                           subject_id=str(referral.id))
    await audit.record(session, "system:cases-events", "referral.status_reported", "referral", str(referral.id),
                       reason=change.reply, detail={"status": step, "ticket_number": change.ticket_number})
    await outbox.add(session, make_event("interop", REFERRAL_PROGRESSED, _event(referral, step, change.reply),
                                         str(referral.id)))


async def apply_partner_status(session: AsyncSession, inbound: Inbound, change: ReferralStatusChange
                               ) -> ReferralStatusAck:
    """`hotline.status`: the city we referred a ticket to reports what its hotline did with it."""
    sender = inbound.partner.region_code
    referral = await repository.get(session, change.referral_ref, for_update=True)
    if referral is None or referral.partner != sender or referral.direction != "outbound":
        raise ReferralNotFound(f"{change.referral_ref} is not a referral we sent to {sender}")
    entry = {**change.model_dump(mode="json", exclude={"referral_ref"}), "message_id": inbound.message_id}
    referral.progress = _with_entry(referral.progress, entry)
    referral.status = f"partner_{referral.progress[-1]['status']}"
    referral.payload = {**referral.payload,
                        "remote_reference_number": referral.payload.get("remote_reference_number")
                        or change.reference_number}
    referral.updated_at = clock.now()
    await audit.record(session, f"partner:{sender}", "referral.progressed", "referral", str(referral.id),
                       reason=change.reply, detail={"status": change.status, "message_id": inbound.message_id})
    await outbox.add(session, make_event("interop", REFERRAL_PROGRESSED, _event(referral, change.status, change.reply),
                                         str(referral.id)))
    return ReferralStatusAck(reference_number=referral.reference_number, status=referral.status)
