"""Handlers of svc-interop's events: a hotline ticket referred by the partner city becomes one of ours."""

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases.ticket import service as tickets
from tongban.shared.contracts.interop import REFERRAL_RECEIVED, ReferralV1
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.inbox import Subscription


async def on_referral_event(session: AsyncSession, event: Envelope) -> None:
    if event.type == REFERRAL_RECEIVED:
        await tickets.receive_referral(session, ReferralV1.model_validate(event.data))


SUBSCRIPTIONS = [Subscription(source="interop", subject="interop.referral.>", durable="cases-interop-referral",
                              handler=on_referral_event)]
