"""Handlers of svc-cases' events: every step of a case a partner city forwarded to us
(channel `partner`) is reported back to that partner as `case.status`; an approved company
move-out (企业迁移) is sent to the target city as `company.migrate`; the steps of a ticket opened
for a partner's hotline referral are reported back as `hotline.status`."""

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.forwarding import migration, service
from tongban.shared.contracts.cases import CASE_APPROVED
from tongban.interop.referral import service as referrals
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.inbox import Subscription

# Steps the forwarding city hears of. `submitted` is not among them: our 202 answered it, and a
# resubmission reports its new state (`submitted`) through `resubmitted`. Steps that do not change
# the state (extended, deadline warnings, gaps reminders) stay here.
REPORTED = frozenset({"accepted", "refused", "supplement_requested", "resubmitted", "review_started", "approved",
                      "denied", "completed", "withdrawn", "suspended", "revoked"})


async def on_case_event(session: AsyncSession, event: Envelope) -> None:
    data = event.data
    if event.type == CASE_APPROVED and data.get("item_basic_code") in migration.MIGRATION_OUT_ITEMS:
        await migration.on_move_out_approved(session, data)
    if data.get("channel") != "partner" or not data.get("partner_region"):
        return
    step = event.type.removeprefix("cases.case.")
    if step in REPORTED and data.get("state"):
        await service.report_case_step(session, data, str(data["state"]))


async def on_ticket_event(session: AsyncSession, event: Envelope) -> None:
    if event.data.get("referral_id"):
        await referrals.report_ticket_step(session, event.type, event.data)


SUBSCRIPTIONS = [Subscription(source="cases", subject="cases.case.>", durable="interop-cases-case",
                              handler=on_case_event),
                 Subscription(source="cases", subject="cases.ticket.>", durable="interop-cases-ticket",
                              handler=on_ticket_event)]
