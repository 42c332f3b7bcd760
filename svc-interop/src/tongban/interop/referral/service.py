"""Hotline referrals (12345 跨城转办): a ticket taken here that belongs to the partner city is
referred there (`hotline.refer`, through the outbound outbox like every message), and the
partner's referrals are received here. The referral id is the idempotency key across resends.

What each city then does with a received ticket (its own hotline system) is outside svc-interop:
`interop.referral.received` announces it.
"""

from __future__ import annotations

import datetime as dt
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
from tongban.interop.referral.models import Referral
from tongban.interop.referral.schemas import HotlineReferral, ReferralAck, ReferralCreate
from tongban.shared.auth import Principal
from tongban.shared.contracts.interop import REFERRAL_RECEIVED, REFERRAL_SENT, ReferralV1
from tongban.shared.events.envelope import make_event

EXCHANGE_REFERRALS = "/api/v1/interop/exchange/referrals"
HOTLINE = "hotline"


def _event(r: Referral) -> ReferralV1:
    return ReferralV1(referral_id=r.id, reference_number=r.reference_number, kind=r.kind, direction=r.direction,
                      partner=r.partner, status=r.status)


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
                        created_at=dt.datetime.now(dt.UTC))
    await repository.add(session, referral)
    await audit.record(session, f"partner:{sender}", "referral.received", "referral", str(referral.id),
                       detail={"partner_reference_number": body.reference_number, "message_id": inbound.message_id})
    await outbox.add(session, make_event("interop", REFERRAL_RECEIVED, _event(referral), str(referral.id)))
    return ReferralAck(reference_number=referral.reference_number, status=referral.status,
                       received_at=referral.created_at)
