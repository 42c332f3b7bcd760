"""Handlers of svc-credentials' events, one durable consumer for both parts:

- the case: the issued licence comes back onto its case (证照联办), or, when it cannot be issued,
  the reason goes on the case's timeline;
- benefit facts (tongban.cases.benefit.licences): an issued licence is a fact of its holder, a
  suspension or revocation takes it away.

One consumer instead of one per part saves every licence a transaction, an inbox row and a durable
commit. The parts stay independent: each refuses a poison event before its first write, so one
part's refusal is dead-lettered on its own (no savepoint) while the other's work commits; both
refusing dead-letter the event as before."""

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases import flows
from tongban.cases.benefit import licences as facts
from tongban.cases.case import service
from tongban.cases.db import platform
from tongban.shared.contracts.credentials import (
    LICENCE_ISSUE_FAILED, LICENCE_ISSUED, LicenceIssuedV1, LicenceIssueFailedV1,
)
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.inbox import PoisonMessage, Subscription, dead_letter_row

log = logging.getLogger("tongban.cases.credentials")
DURABLE = "cases-credentials-licence"


async def on_licence_event(session: AsyncSession, event: Envelope) -> None:
    faults = []
    for name, part in (("case", _on_case), ("facts", facts.on_licence_event)):
        try:
            await part(session, event)
        except PoisonMessage as exc:
            faults.append(f"{name}: {exc}")
    if len(faults) == 2:
        raise PoisonMessage("; ".join(faults))
    for fault in faults:
        # Committed with the other part's work; the inbox row keeps a redelivery from redoing it.
        await session.execute(platform.dead_letter.insert().values(dead_letter_row(
            DURABLE, str(event.id), event.type, event.model_dump_json(), f"PoisonMessage: {fault}", 1)))


async def _on_case(session: AsyncSession, event: Envelope) -> None:
    if event.type == LICENCE_ISSUE_FAILED:
        failed = LicenceIssueFailedV1.model_validate(event.data)
        if not await service.record_licence_failure(session, failed.case_id, failed.reason):
            log.warning("licence failure names case %s, which svc-cases does not know", failed.case_id)
        return
    if event.type != LICENCE_ISSUED:
        return  # suspensions and revocations do not change a case
    data = LicenceIssuedV1.model_validate(event.data)
    if data.source_case_id is None:
        return  # issued without a case (a migration from an older system, say)
    if len(data.identifier) > 200:
        raise PoisonMessage(f"licence identifier of {len(data.identifier)} characters")
    try:
        known = await flows.record_licence(session, data.source_case_id, data.identifier, data.type_code,
                                             data.holder_id)
    except service.LicenceMismatch as exc:
        raise PoisonMessage(str(exc)) from exc   # kept for a human; the case is left as it is
    if not known:
        log.warning("licence %s names case %s, which svc-cases does not know", data.licence_id, data.source_case_id)


# Licences issued together (svc-credentials' own groups) come back onto their cases in one
# transaction and one durable commit; a failing group is redone one event at a time.
# Nobody waits on the licence on its case to the second: after a quiet spell's first event the consumer lingers
# LINGER seconds, so a steady stream is handled in groups, not one transaction per event.
TOGETHER = 20
LINGER = 0.25
SUBSCRIPTIONS = [Subscription(source="credentials", subject="credentials.licence.>",
                              durable=DURABLE, handler=on_licence_event, together=TOGETHER, linger=LINGER)]
