"""Handlers of svc-credentials' events: the issued licence comes back onto its case (证照联办), or,
when it cannot be issued, the reason goes on the case's timeline."""

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.cases import flows
from tongban.cases.case import service
from tongban.shared.contracts.credentials import (
    LICENCE_ISSUE_FAILED, LICENCE_ISSUED, LicenceIssuedV1, LicenceIssueFailedV1,
)
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.inbox import PoisonMessage, Subscription

log = logging.getLogger("tongban.cases.credentials")


async def on_licence_event(session: AsyncSession, event: Envelope) -> None:
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
TOGETHER = 20
SUBSCRIPTIONS = [Subscription(source="credentials", subject="credentials.licence.>",
                              durable="cases-credentials-licence", handler=on_licence_event, together=TOGETHER)]
