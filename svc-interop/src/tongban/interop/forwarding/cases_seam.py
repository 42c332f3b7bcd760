"""Where svc-interop hands a forwarded case to svc-cases, and hears its status changes back.

svc-cases does not yet take cases from interop (it is being built beside this service), so a
forwarded case lives in interop's own `incoming_case` table and its number is issued here.
When svc-cases offers an internal "open a case" API, `open_forwarded_case` calls it (with the
case as `ForwardedCase` describes it, the partner as the channel, and the partner's message
id as the Idempotency-Key) and returns svc-cases' case number; status changes then arrive
from `cases.case.*` events through a consumer that calls `forwarding.service.change_status`.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.forwarding import repository
from tongban.interop.forwarding.models import IncomingCase


async def open_forwarded_case(session: AsyncSession, region: str, case: IncomingCase) -> str:
    """Open the local case for a forwarded one and return its case number (today: issued by interop)."""
    return await repository.next_reference(session, region, "F")
