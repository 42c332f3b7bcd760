"""Signing keys and access tokens: one active key is ensured at startup (replicas starting
together create exactly one), and a password grant yields an ES256 JWT whose scopes and
audience follow the account's role (`scopes.py`)."""

import asyncio
import time
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.gateway.account import service as account_service
from tongban.gateway.account.models import Account
from tongban.gateway.account.schemas import ROLE_FIELD
from tongban.gateway.db import audit
from tongban.gateway.token import repository
from tongban.gateway.token.errors import InvalidGrant, InvalidScope
from tongban.gateway.token.keys import ALGORITHM, KeyRing, generate_key
from tongban.gateway.token.models import SigningKey
from tongban.gateway.token.schemas import PasswordGrant, TokenResponse
from tongban.gateway.token.scopes import ALL_AUDIENCES, ROLE_AUDIENCES, ROLE_SCOPES


async def add_signing_key(session: AsyncSession, passphrase: bytes) -> str:
    """A new signing key, which signs from the next `KeyRing.load()` on; returns its kid."""
    new = await asyncio.to_thread(generate_key, passphrase)
    await repository.add(session, SigningKey(kid=new.kid, algorithm=ALGORITHM, private_pem=new.private_pem,
                                             public_jwk=new.public_jwk))
    await audit.record(session, "system:gateway", "signing_key.created", "signing_key", new.kid)
    return new.kid


async def ensure_signing_key(session: AsyncSession, passphrase: bytes) -> str | None:
    """Create a signing key if none is active; returns its kid, or None when one was there."""
    await repository.lock_signing_keys(session)
    if await repository.active_keys(session):
        return None
    return await add_signing_key(session, passphrase)


async def open_key_ring(sessionmaker: async_sessionmaker[AsyncSession], issuer: str, passphrase: bytes) -> KeyRing:
    """The key ring at startup: an active key ensured, then every key not retired loaded."""
    async with sessionmaker() as session, session.begin():
        await ensure_signing_key(session, passphrase)
    ring = KeyRing(issuer, passphrase, ALL_AUDIENCES)
    await ring.load(sessionmaker)
    return ring


async def public_jwks(session: AsyncSession) -> dict[str, Any]:
    """The public halves of every key not retired (tokens of any of them still verify)."""
    return {"keys": [k.public_jwk for k in await repository.active_keys(session)]}


def granted_scopes(role: str, requested: str | None) -> tuple[str, ...]:
    """The role's scopes, narrowed to the requested ones; asking for more than the role has is refused."""
    allowed = ROLE_SCOPES[role]
    if not requested or not requested.strip():
        return allowed
    wanted = set(requested.split())
    if extra := sorted(wanted.difference(allowed)):
        raise InvalidScope(f"not granted to a {role}: {' '.join(extra)}")
    return tuple(s for s in allowed if s in wanted)


def access_token_claims(account: Account, scopes: tuple[str, ...], ttl: int, issuer: str) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer, "sub": str(account.id), "aud": list(ROLE_AUDIENCES[account.role]), "iat": now,
        "exp": now + ttl, "jti": uuid.uuid4().hex, "role": account.role, "scope": " ".join(scopes),
        "name": account.display_name,
    }
    if (field := ROLE_FIELD.get(account.role)) is not None:
        claims[field] = getattr(account, field)
    return claims


async def password_grant(session: AsyncSession, ring: KeyRing, grant: PasswordGrant, ttl: int) -> TokenResponse:
    """Check the credentials and issue an access token, or refuse with `invalid_grant`."""
    account = await account_service.authenticate(session, grant.username, grant.password)
    if account is None:
        raise InvalidGrant()
    scopes = granted_scopes(account.role, grant.scope)
    token = ring.sign(access_token_claims(account, scopes, ttl, ring.issuer))
    return TokenResponse(access_token=token, expires_in=ttl, scope=" ".join(scopes))
