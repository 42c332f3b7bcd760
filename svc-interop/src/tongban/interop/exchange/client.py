"""Signed calls to a partner whose answer we wait for (discovery, issuer keys, verifications),
as opposed to the deliverer's queued messages that retry until delivered.

Same contract both ways: the request is signed (RFC 9421), the partner's answer must be signed
with one of its registered keys and bound to our request, and the exchange (answered, refused
or unanswered) is appended to the hash-chained log in its own transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tongban.interop.exchange.wire import INACTIVE, Wire, encode
from tongban.interop.ledger import service as ledger
from tongban.shared.errors import AppError


class PartnerUnavailable(AppError):
    """The partner did not answer, or answered without a valid signature bound to our request."""

    code, status, title = "partner_unavailable", 503, "The partner city did not answer usefully"


class PartnerRefused(AppError):
    """The partner answered (signed) with a refusal; `partner_status` and `partner_code` say which.
    502 (our side is misconfigured: grants, tokens), or 422 when the partner found the input wrong."""

    code, status, title = "partner_refused", 502, "The partner city refused the request"


@dataclass
class Answer:
    status: int
    body: Any
    message_id: str


class PartnerClient:
    def __init__(self, wire: Wire) -> None:
        self.wire = wire

    async def call(self, region: str, method: str, path: str, body: Any = None,
                   on_behalf_of: str | None = None, message_id: str | None = None) -> Answer:
        """Send one signed message to `region` and return its verified 2xx answer; raises
        PartnerUnavailable / PartnerRefused otherwise (after logging the exchange). A caller
        retrying on someone's behalf passes the same `message_id`, so the partner replays."""
        message_id = message_id or str(uuid.uuid4())
        sent = await self.wire.send(region, method, path, encode(body), message_id, on_behalf_of=on_behalf_of)
        if sent.problem == INACTIVE:
            raise PartnerUnavailable(sent.error)
        entry = sent.entry
        try:
            if sent.problem is not None:
                raise PartnerUnavailable(sent.error)
            status, answer = sent.status or 0, sent.answer
            if status >= 400:
                code = answer.get("code") if isinstance(answer, dict) else None
                if status >= 500:
                    raise PartnerUnavailable(f"{region} answered {status} ({code})")
                refused = PartnerRefused(f"{region} answered {status} ({code})", partner_status=status,
                                         partner_code=code,
                                         partner_detail=answer.get("detail") if isinstance(answer, dict) else None,
                                         errors=answer.get("errors") if isinstance(answer, dict) else None)
                if status in (400, 422):
                    refused.status = 422  # the partner says what we sent is wrong: the caller's input, not us
                raise refused
            entry.outcome = "delivered"
            return Answer(status, answer, message_id)
        except AppError as exc:
            entry.outcome, entry.reason = "failed", exc.detail
            raise
        finally:
            async with self.wire.sessionmaker() as session, session.begin():
                await ledger.append(session, entry)
