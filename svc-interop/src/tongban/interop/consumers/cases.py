"""Handlers of svc-cases' events: every step of a case a partner city forwarded to us
(channel `partner`) is reported back to that partner as `case.status`."""

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.forwarding import service
from tongban.shared.events.envelope import Envelope
from tongban.shared.events.inbox import Subscription

# Steps the forwarding city hears of. `submitted` is not among them: our 202 answered it, and a
# resubmission reports its new state (`submitted`) through `resubmitted`. Steps that do not change
# the state (extended, deadline warnings, gaps reminders) stay here.
REPORTED = frozenset({"accepted", "refused", "supplement_requested", "resubmitted", "review_started", "approved",
                      "denied", "completed", "withdrawn", "suspended", "revoked"})


async def on_case_event(session: AsyncSession, event: Envelope) -> None:
    data = event.data
    if data.get("channel") != "partner" or not data.get("partner_region"):
        return
    step = event.type.removeprefix("cases.case.")
    if step in REPORTED and data.get("state"):
        await service.report_case_step(session, data, str(data["state"]))


SUBSCRIPTIONS = [Subscription(source="cases", subject="cases.case.>", durable="interop-cases-case",
                              handler=on_case_event)]
