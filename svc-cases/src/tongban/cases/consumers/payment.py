"""svc-cases hears its own case events, one durable consumer for all of them:

- payment: a submitted case of a fee-bearing item gets its order; a refused, denied or withdrawn
  one has its order cancelled or refunded;
- benefit facts (tongban.cases.benefit.registry): an approval of a business-licence case gives
  the company its registration facts; a completed or revoked case sets or takes away
  `case.completed.<item>`.

Through the inbox, like any consumer, so a redelivery opens, refunds or sets nothing twice; kept
apart from the case transaction so a submission (and instant approval) costs nothing more. The
two parts hear disjoint steps, so one event is only ever one part's work: one consumer instead of
one per part saves every case step a transaction, an inbox row and a durable commit (the facts
had three consumers of their own, one per step)."""

from sqlalchemy.ext.asyncio import AsyncSession
from tongban.cases.benefit import registry
from tongban.cases.payment import service
from tongban.shared.contracts import cases as contract
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.inbox import Subscription

SETTLING = {contract.CASE_REFUSED: "refused", contract.CASE_DENIED: "denied", contract.CASE_WITHDRAWN: "withdrawn"}


async def on_case_event(session: AsyncSession, event: Envelope) -> None:
    if event.type in (contract.CASE_SUBMITTED, contract.CASE_RESUBMITTED):
        data = contract.CaseTransitionedV1.model_validate(event.data)
        await service.open_order(session, data.case_id)
    elif event.type in SETTLING:
        data = contract.CaseTransitionedV1.model_validate(event.data)
        await service.case_settled(session, data.case_id, SETTLING[event.type])
    elif event.type in registry.HEARS:
        await registry.on_case_event(session, event)


# A case's events come in runs (a 秒批 case's submitted and approved are published in one relay
# batch): fetched together they share one transaction and one durable commit instead of one each
# (most events need nothing here); a failing group is redone one event at a time.
# Nobody waits on an order or a fact to the second: after a quiet spell's first event the consumer lingers
# LINGER seconds, so a steady stream is handled in groups, not one transaction per event.
TOGETHER = 20
LINGER = 0.25
SUBSCRIPTIONS = [Subscription(source="cases", subject="cases.case.>", durable="cases-payment-case",
                              handler=on_case_event, together=TOGETHER, linger=LINGER)]
