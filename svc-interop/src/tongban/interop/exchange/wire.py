"""The one place a signed message leaves for a partner: sign (RFC 9421), fetch the partner's
token, send, check that the answer is signed by one of the partner's keys and bound to our
request, and describe the exchange for the log.

Both ways of calling a partner use it: the deliverer (queued messages, retried until delivered)
and `PartnerClient` (calls whose answer someone waits for). Each decides what an outcome means
for it (retry, give up, raise); neither builds or sends a request of its own.
"""

from __future__ import annotations

import json
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

# Why a message got no usable answer (`Sent.problem`); None: the partner answered, signed and bound.
INACTIVE, NO_TOKEN, UNREACHABLE, UNSIGNED = "inactive", "no_token", "unreachable", "unsigned"


@dataclass
class Sent:
    """One attempt: the log entry (outcome still to be set by the caller) and what came back."""

    entry: ledger.Exchange
    problem: str | None = None
    error: str | None = None          # set with `problem`
    status: int | None = None         # the partner's HTTP status, when it answered
    answer: Any = None                # its JSON body (None when empty or not JSON)
    text: str = ""


def encode(body: Any) -> bytes:
    return b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class Wire:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], ring: Callable[[], KeyRing],
                 http: httpx.AsyncClient, tokens: PartnerTokens, timeout: float = 10.0, skew: int = 300) -> None:
        self.sessionmaker = sessionmaker
        self.ring = ring
        self.http = http
        self.tokens = tokens
        self.timeout = timeout
        self.skew = skew

    async def send(self, region: str, method: str, path: str, raw: bytes, message_id: str,
                   on_behalf_of: str | None = None, case_number: str | None = None) -> Sent:
        """Send one signed message (`raw` body) to `region`; never raises for the partner's behaviour."""
        async with self.sessionmaker() as session:
            partner, active_keys = await partners.with_active_keys(session, region)
            keys = {k.kid: public_from_b64url(k.public_key) for k in active_keys}
        if partner is None or partner.status != "active":
            entry = ledger.Exchange(direction="outbound", method=method, target="", request_headers={},
                                    request_body=b"", outcome="pending", partner=region, message_id=message_id)
            return Sent(entry, INACTIVE, f"{region} is not an active partner")
        url = partner.base_url + path
        ring = self.ring()
        headers = {signing.SENDER: ring.region_code, signing.MESSAGE_ID: message_id}
        if method != "GET":
            headers[signing.IDEMPOTENCY_KEY] = message_id
        if on_behalf_of:
            headers[signing.ON_BEHALF_OF] = on_behalf_of
        if case_number:
            headers[signing.CASE] = case_number
        signed = signing.sign_request(ring.private, ring.kid, method, url, headers, raw)
        wire = {**headers, **signed.headers, "content-type": "application/json"}
        entry = ledger.Exchange(direction="outbound", method=method, target=url, request_headers=ledger.kept(wire),
                                request_body=raw, outcome="pending", partner=region, message_id=message_id)
        try:
            token = await self.tokens.token_for(partner)
        except TokenUnavailable as exc:
            return Sent(entry, NO_TOKEN, str(exc))
        auth = {"authorization": f"Bearer {token}"} if token else {}
        try:
            resp = await self.http.request(method, url, content=raw, headers={**wire, **auth}, timeout=self.timeout)
        except httpx.HTTPError as exc:
            return Sent(entry, UNREACHABLE, f"{region} unreachable: {type(exc).__name__}: {exc}")
        entry.response_status = resp.status_code
        entry.response_headers = ledger.kept(resp.headers)
        entry.response_body = resp.content
        try:
            signing.verify_response(resp.status_code, resp.headers, resp.content, signed.request_hash, keys.get,
                                    skew=self.skew)
        except signing.SignatureRefused as exc:
            # Most likely the partner's gateway or a proxy answering, not the partner's interop.
            return Sent(entry, UNSIGNED, f"answer refused: {exc.code}: {exc.detail}", status=resp.status_code)
        if resp.status_code == 401:
            self.tokens.forget(region)  # a new token for the next attempt
        try:
            answer = resp.json() if resp.content else None
        except ValueError:
            answer = None
        return Sent(entry, status=resp.status_code, answer=answer, text=resp.text[:500])
