"""Admission of an inbound partner message: who sent it, whether its signature, timestamp and
nonce hold, and whether the sender was granted the service it calls."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tongban.interop import signing
from tongban.interop.exchange import repository
from tongban.interop.exchange.errors import (
    BadMessageId, NonceReplayed, NotAPartner, SenderMismatch, ServiceNotGranted, UnknownPartner,
)
from tongban.interop.identity.service import public_from_b64url
from tongban.interop.partner import repository as partners
from tongban.interop.partner.models import Partner
from tongban.shared.auth import Principal


@dataclass(frozen=True)
class Inbound:
    """An admitted message: its verified sender and the contract's headers."""

    partner: Partner
    message_id: str
    on_behalf_of: str | None
    case_number: str | None
    verified: signing.Verified

    @property
    def owner(self) -> str:
        """The idempotency owner of this sender's message ids."""
        return f"partner:{self.partner.region_code}"


@dataclass(frozen=True)
class Authenticated:
    """A message whose sender is an active partner holding a partner token, and whose signature
    (by one of that partner's unretired keys, over this body, within the clock skew) holds."""

    partner: Partner
    principal: Principal
    verified: signing.Verified


async def authenticate(session: AsyncSession, principal: Principal, method: str, target_uri: str,
                       headers: Mapping[str, str], body: bytes, skew: int) -> Authenticated:
    """Who sent it and whether its signature holds: reads only, so that nothing an anonymous or
    forging caller sends is stored. Raises the refusal that applies."""
    if principal.role != "partner" or not principal.partner:
        raise NotAPartner()
    sender = headers.get(signing.SENDER)
    if sender != principal.partner:
        raise SenderMismatch(f"X-Interop-Sender {sender!r}, token issued to {principal.partner!r}")
    partner, active_keys = await partners.with_active_keys(session, sender)
    if partner is None or partner.status != "active":
        raise UnknownPartner(f"{sender} is not an active partner")
    keys = {k.kid: public_from_b64url(k.public_key) for k in active_keys}
    verified = signing.verify_request(method, target_uri, headers, body, keys.get, skew=skew)
    return Authenticated(partner, principal, verified)


async def admit_authenticated(session: AsyncSession, auth: Authenticated, service: str,
                              headers: Mapping[str, str], skew: int) -> Inbound:
    """The rest of the contract for an authenticated message: its message id, the grant, and a
    nonce never used before (remembered now, in the request's transaction)."""
    sender, verified = auth.partner.region_code, auth.verified
    message_id = headers.get(signing.MESSAGE_ID, "")
    try:
        uuid.UUID(message_id)
    except ValueError as exc:
        raise BadMessageId(f"{message_id!r} is not a UUID") from exc
    key = headers.get(signing.IDEMPOTENCY_KEY)
    if key is not None and key != message_id:
        raise BadMessageId("Idempotency-Key must equal X-Interop-Message-Id")
    if service not in auth.partner.services:
        raise ServiceNotGranted(f"{sender} may not call {service}")
    expires = dt.datetime.fromtimestamp(verified.created + 2 * skew, dt.UTC)
    if not await repository.claim_nonce(session, sender, verified.nonce, expires):
        raise NonceReplayed(f"nonce {verified.nonce!r} from {sender} was already used")
    return Inbound(auth.partner, message_id, headers.get(signing.ON_BEHALF_OF), headers.get(signing.CASE), verified)


async def admit(session: AsyncSession, principal: Principal, service: str, method: str, target_uri: str,
                headers: Mapping[str, str], body: bytes, skew: int) -> Inbound:
    """Check an inbound message against the whole contract; raises the refusal that applies."""
    auth = await authenticate(session, principal, method, target_uri, headers, body, skew)
    return await admit_authenticated(session, auth, service, headers, skew)
