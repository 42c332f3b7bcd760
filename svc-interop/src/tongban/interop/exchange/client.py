"""Signed calls to a partner whose answer we wait for (discovery, issuer keys, verifications),
as opposed to the deliverer's queued messages that retry until delivered.

Same contract both ways: the request is signed (RFC 9421), the partner's answer must be signed
with one of its registered keys and bound to our request, and the exchange (answered, refused
or unanswered) is appended to the hash-chained log in its own transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.interop import signing
from tongban.interop.delivery.tokens import PartnerTokens, TokenUnavailable
from tongban.interop.identity.service import KeyRing, public_from_b64url
from tongban.interop.ledger import service as ledger
from tongban.interop.partner import repository as partners
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
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], ring: Callable[[], KeyRing],
                 http: httpx.AsyncClient, tokens: PartnerTokens, timeout: float = 10.0, skew: int = 300) -> None:
        self.sessionmaker = sessionmaker
        self.ring = ring
        self.http = http
        self.tokens = tokens
        self.timeout = timeout
        self.skew = skew

    async def call(self, region: str, method: str, path: str, body: Any = None,
                   on_behalf_of: str | None = None) -> Answer:
        """Send one signed message to `region` and return its verified 2xx answer; raises
        PartnerUnavailable / PartnerRefused otherwise (after logging the exchange)."""
        async with self.sessionmaker() as session:
            partner, active_keys = await partners.with_active_keys(session, region)
            keys = {k.kid: public_from_b64url(k.public_key) for k in active_keys}
        if partner is None or partner.status != "active":
            raise PartnerUnavailable(f"{region} is not an active partner")
        url = partner.base_url + path
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        ring = self.ring()
        message_id = str(uuid.uuid4())
        headers = {signing.SENDER: ring.region_code, signing.MESSAGE_ID: message_id}
        if method != "GET":
            headers[signing.IDEMPOTENCY_KEY] = message_id
        if on_behalf_of:
            headers[signing.ON_BEHALF_OF] = on_behalf_of
        signed = signing.sign_request(ring.private, ring.kid, method, url, headers, raw)
        wire = {**headers, **signed.headers, "content-type": "application/json"}
        entry = ledger.Exchange(direction="outbound", method=method, target=url, request_headers=ledger.kept(wire),
                                request_body=raw, outcome="pending", partner=region, message_id=message_id)
        try:
            try:
                token = await self.tokens.token_for(partner)
            except TokenUnavailable as exc:
                raise PartnerUnavailable(str(exc)) from exc
            auth = {"authorization": f"Bearer {token}"} if token else {}
            try:
                resp = await self.http.request(method, url, content=raw, headers={**wire, **auth},
                                               timeout=self.timeout)
            except httpx.HTTPError as exc:
                raise PartnerUnavailable(f"{region} unreachable: {type(exc).__name__}") from exc
            entry.response_status = resp.status_code
            entry.response_headers = ledger.kept(resp.headers)
            entry.response_body = resp.content
            try:
                signing.verify_response(resp.status_code, resp.headers, resp.content, signed.request_hash, keys.get,
                                        skew=self.skew)
            except signing.SignatureRefused as exc:
                raise PartnerUnavailable(f"{region}'s answer refused: {exc.code}") from exc
            if resp.status_code == 401:
                self.tokens.forget(region)
            try:
                answer = resp.json() if resp.content else None
            except ValueError:
                answer = None
            if resp.status_code >= 400:
                code = answer.get("code") if isinstance(answer, dict) else None
                if resp.status_code >= 500:
                    raise PartnerUnavailable(f"{region} answered {resp.status_code} ({code})")
                refused = PartnerRefused(f"{region} answered {resp.status_code} ({code})",
                                         partner_status=resp.status_code, partner_code=code,
                                         errors=answer.get("errors") if isinstance(answer, dict) else None)
                if resp.status_code in (400, 422):
                    refused.status = 422  # the partner says what we sent is wrong: the caller's input, not us
                raise refused
            entry.outcome = "delivered"
            return Answer(resp.status_code, answer, message_id)
        except AppError as exc:
            entry.outcome, entry.reason = "failed", exc.detail
            raise
        finally:
            async with self.sessionmaker() as session, session.begin():
                await ledger.append(session, entry)
