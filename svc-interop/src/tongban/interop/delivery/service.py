"""Messages to partners go through an outbox of our own: written in the business transaction,
delivered afterwards by the deliverer (see worker.py), retried with backoff until the partner
answers. The message id is the partner's idempotency key, so a resend is harmless."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop.delivery import repository
from tongban.interop.delivery.models import OutboundMessage


async def enqueue(session: AsyncSession, partner: str, message_type: str, path: str, body: dict[str, Any] | None,
                  method: str = "POST", on_behalf_of: str | None = None, case_number: str | None = None,
                  subject_id: str | None = None) -> OutboundMessage:
    """Queue a message to `partner` (path under its base URL); it is sent once this transaction commits."""
    message = OutboundMessage(partner=partner, message_type=message_type, method=method, path=path, body=body,
                              on_behalf_of=on_behalf_of, case_number=case_number, subject_id=subject_id,
                              state="pending", attempts=0)
    await repository.add(session, message)
    return message
