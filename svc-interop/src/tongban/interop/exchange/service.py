"""Admission of an inbound partner message: who sent it, whether its signature, timestamp and
nonce hold, and whether the sender was granted the service it calls."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
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
from tongban.shared.errors import AppError


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
    (by one of that partner's unretired keys, over this body, within the clock skew) holds.
    `version`: the partner registry's version the partner and keys were current at."""

    partner: Partner
    principal: Principal
    verified: signing.Verified
    version: int | None = None


@dataclass(frozen=True)
class Known:
    """A partner and its unrevoked keys (parsed), as of a version of the registry."""

    partner: Partner
    keys: dict[str, Ed25519PublicKey]
    version: int | None


class PartnerDirectory:
    """The partners this process has seen, each with its parsed keys, as of the registry version
    read with them: the exchange edge authenticates a known sender without a statement. Nothing
    here is trusted for longer than one message: the statement that claims the message's nonce
    (in the request's transaction) reads the registry's current version, and a copy older than
    that is dropped and the message authenticated again from the database (admit_authenticated),
    so a key revoked or a partner suspended by any process is refused from its next message on.
    A refusal by a remembered copy is never final either: the sender is read again first (a key
    registered since). The outbound wire (exchange.wire.Wire) shares it: the deliverer's claim of
    due messages reads the registry's version in the same statement, and a copy of another version
    is read again before a message is signed for it."""

    def __init__(self) -> None:
        self._known: dict[str, Known] = {}

    def get(self, region_code: str) -> Known | None:
        return self._known.get(region_code)

    def remember(self, known: Known) -> None:
        self._known[known.partner.region_code] = known

    def forget(self) -> None:
        self._known.clear()


async def read_known(session: AsyncSession, sender: str) -> Known | None:
    """The partner, its unrevoked keys (parsed) and the registry's version, in one statement."""
    partner, active_keys, version = await partners.with_active_keys_versioned(session, sender)
    if partner is None:
        return None
    return Known(partner, {k.kid: public_from_b64url(k.public_key) for k in active_keys}, version)


def _check(known: Known | None, sender: str, principal: Principal, method: str, target_uri: str,
           headers: Mapping[str, str], body: bytes, skew: int) -> Authenticated:
    if known is None or known.partner.status != "active":
        raise UnknownPartner(f"{sender} is not an active partner")
    verified = signing.verify_request(method, target_uri, headers, body, known.keys.get, skew=skew)
    return Authenticated(known.partner, principal, verified, known.version)


async def authenticate(session: AsyncSession, principal: Principal, method: str, target_uri: str,
                       headers: Mapping[str, str], body: bytes, skew: int,
                       directory: PartnerDirectory | None = None) -> Authenticated:
    """Who sent it and whether its signature holds: reads only (none at all for a sender in
    `directory`), so that nothing an anonymous or forging caller sends is stored. Raises the
    refusal that applies."""
    if principal.role != "partner" or not principal.partner:
        raise NotAPartner()
    sender = headers.get(signing.SENDER)
    if sender != principal.partner:
        raise SenderMismatch(f"X-Interop-Sender {sender!r}, token issued to {principal.partner!r}")
    if directory is not None and (known := directory.get(sender)) is not None:
        try:
            return _check(known, sender, principal, method, target_uri, headers, body, skew)
        except AppError:
            pass  # perhaps a key registered since: the database decides
    known = await read_known(session, sender)
    if directory is not None and known is not None:
        directory.remember(known)
    return _check(known, sender, principal, method, target_uri, headers, body, skew)


async def admit_authenticated(session: AsyncSession, auth: Authenticated, service: str,
                              headers: Mapping[str, str], skew: int,
                              again: Callable[[], Awaitable[Authenticated]] | None = None) -> Inbound:
    """The rest of the contract for an authenticated message: its message id, the grant, and a
    nonce never used before (remembered now, in `session`'s transaction: the request's, or for a
    route that commits it before its work anyway, an AUTOCOMMIT session's: guard.Exchange's
    `claim_alone`). If the registry
    changed since `auth` was read (its version), `again()` authenticates the message afresh in
    this transaction (raising the refusal that now applies) before the grant is checked."""
    message_id = headers.get(signing.MESSAGE_ID, "")
    try:
        uuid.UUID(message_id)
    except ValueError as exc:
        raise BadMessageId(f"{message_id!r} is not a UUID") from exc
    key = headers.get(signing.IDEMPOTENCY_KEY)
    if key is not None and key != message_id:
        raise BadMessageId("Idempotency-Key must equal X-Interop-Message-Id")
    verified = auth.verified
    expires = dt.datetime.fromtimestamp(verified.created + 2 * skew, dt.UTC)
    claimed, version = await repository.claim_nonce(session, auth.partner.region_code, verified.nonce, expires)
    if auth.version != version and again is not None:
        auth = await again()  # the same sender (the token's): the same nonce was claimed above
    sender = auth.partner.region_code
    if service not in auth.partner.services:
        raise ServiceNotGranted(f"{sender} may not call {service}")
    if not claimed:
        raise NonceReplayed(f"nonce {verified.nonce!r} from {sender} was already used")
    return Inbound(auth.partner, message_id, headers.get(signing.ON_BEHALF_OF), headers.get(signing.CASE), auth.verified)


async def admit(session: AsyncSession, principal: Principal, service: str, method: str, target_uri: str,
                headers: Mapping[str, str], body: bytes, skew: int) -> Inbound:
    """Check an inbound message against the whole contract; raises the refusal that applies."""
    auth = await authenticate(session, principal, method, target_uri, headers, body, skew)
    return await admit_authenticated(session, auth, service, headers, skew)
