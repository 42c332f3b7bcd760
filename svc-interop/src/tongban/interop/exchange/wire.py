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
from tongban.interop.exchange.service import Known, PartnerDirectory, read_known
from tongban.interop.identity.service import KeyRing
from tongban.interop.ledger import service as ledger

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
                 http: httpx.AsyncClient, tokens: PartnerTokens, timeout: float = 10.0, skew: int = 300,
                 directory: PartnerDirectory | None = None) -> None:
        """`sessionmaker`: for the one read of a partner and its keys (no transaction needed);
        `directory`: partners as last read (the exchange edge's), used when the caller knows the
        registry's current version (`send(version=...)`)."""
        self.sessionmaker = sessionmaker
        self.directory = directory
        self.ring = ring
        self.http = http
        self.tokens = tokens
        self.timeout = timeout
        self.skew = skew

    async def send(self, region: str, method: str, path: str, raw: bytes, message_id: str,
                   on_behalf_of: str | None = None, case_number: str | None = None, version: int | None = None
                   ) -> Sent:
        """Send one signed message (`raw` body) to `region`; never raises for the partner's behaviour.
        `version`: the partner registry's version as a statement of the caller's just read it (the
        deliverer's claim): the directory's copy of the partner is used only if it is of that
        version; otherwise (or without `version`) the partner and its keys are read."""
        known = await self._known(region, version)
        partner = known.partner if known is not None else None
        keys = known.keys if known is not None else {}
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

    async def _known(self, region: str, version: int | None) -> Known | None:
        if version is not None and self.directory is not None:
            known = self.directory.get(region)
            if known is not None and known.version == version:
                return known
        async with self.sessionmaker() as session:
            known = await read_known(session, region)
        if known is not None and self.directory is not None:
            self.directory.remember(known)
        return known
