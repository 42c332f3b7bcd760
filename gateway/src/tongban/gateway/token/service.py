"""Signing keys and access tokens: one active key is ensured at startup (replicas starting
together create exactly one), and a password grant yields an ES256 JWT whose scopes and
audience follow the account's role (`scopes.py`)."""

import asyncio
import datetime as dt
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.gateway.account import service as account_service
from tongban.gateway.account.models import Account
from tongban.gateway.account.schemas import ROLE_FIELD
from tongban.gateway.db import audit
from tongban.gateway.token import grace, repository
from tongban.gateway.delegation import service as delegations
from tongban.gateway.revocation import service as revocations
from tongban.gateway.token.errors import (
    ClientExists, ClientNotFound, InvalidClient, InvalidGrant, InvalidRequest, InvalidScope, RefreshTokenReused,
    SigningKeyInUse, SigningKeyNotFound,
)
from tongban.gateway.token.keys import ALGORITHM, KeyRing, generate_key
from tongban.gateway.token.models import OAuthClient, RefreshToken, SigningKey
from tongban.gateway.token.schemas import (
    ClientCredentialsGrant, OAuthClientRead, PasswordGrant, RefreshGrant, TokenResponse,
)
from tongban.gateway.token.scopes import (
    ALL_AUDIENCES, PARTNER_AUDIENCES, PARTNER_SCOPES, ROLE_AUDIENCES, ROLE_SCOPES, SERVICE_SCOPES, audiences_of,
)
from tongban.shared import clock
from tongban.shared.auth import Principal
from tongban.shared.pagination import Page, PageParams, paginate


@dataclass(frozen=True)
class TokenLifetimes:
    access: int
    refresh: int
    grace: float = 0.0    # seconds a rotated refresh token still gets its answer again (token/grace.py)


async def add_signing_key(session: AsyncSession, passphrase: bytes, actor: Principal | str = "system:gateway",
                          reason: str | None = None) -> str:
    """A new signing key, which signs from the next `KeyRing.load()` on; returns its kid.

    The older keys stay in the JWKS (tokens they signed still verify) until they are retired."""
    new = await asyncio.to_thread(generate_key, passphrase)
    await repository.add(session, SigningKey(kid=new.kid, algorithm=ALGORITHM, private_pem=new.private_pem,
                                             public_jwk=new.public_jwk))
    await audit.record(session, actor, "signing_key.created", "signing_key", new.kid, reason=reason)
    return new.kid


async def retire_signing_key(session: AsyncSession, kid: str, actor: Principal, reason: str) -> None:
    """Take a key out of the JWKS: tokens it signed stop verifying. The newest key cannot be
    retired (something must sign); retire a key once its last tokens have expired."""
    await repository.lock_signing_keys(session)
    active = await repository.active_keys(session)
    key = next((k for k in active if k.kid == kid), None)
    if key is None:
        raise SigningKeyNotFound()
    if key is active[0]:
        raise SigningKeyInUse()
    key.retired_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await audit.record(session, actor, "signing_key.retired", "signing_key", kid, reason=reason)


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


def access_token_claims(account: Account, scopes: tuple[str, ...], ttl: int, issuer: str,
                        agent_for: dict[str, Any] | None = None, sid: uuid.UUID | None = None) -> dict[str, Any]:
    """The claims of a person's access token; `sid` names the login (refresh-token family) it
    belongs to, so ending that login refuses the token at once (tongban.shared.revocation)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer, "sub": str(account.id), "aud": list(ROLE_AUDIENCES[account.role]), "iat": now,
        "exp": now + ttl, "jti": uuid.uuid4().hex, "role": account.role, "scope": " ".join(scopes),
        "name": account.display_name,
    }
    if sid is not None:
        claims["sid"] = str(sid)
    if (field := ROLE_FIELD.get(account.role)) is not None:
        claims[field] = getattr(account, field)
    for extra in ("real_name_level", "company_role", "counter", "halls", "departments"):
        if (value := getattr(account, extra)) is not None:
            claims[extra] = value
    if agent_for is not None:
        claims["agent_for"] = agent_for
    return claims


def _hash(raw: str) -> str:
    # A refresh token is 256 random bits: a plain SHA-256 is enough (no dictionary to guess from).
    return hashlib.sha256(raw.encode("ascii", "replace")).hexdigest()


async def _issue_row(session: AsyncSession, ring: KeyRing, account: Account, scopes: tuple[str, ...],
                     lifetimes: TokenLifetimes, family_id: uuid.UUID | None) -> tuple[TokenResponse, RefreshToken]:
    """An access token and a new refresh token of the family (a new family for a new login)."""
    agent_for = await delegations.agent_claim(session, account)
    family_id = family_id or uuid.uuid4()
    token = ring.sign(access_token_claims(account, scopes, lifetimes.access, ring.issuer, agent_for, family_id))
    raw = secrets.token_urlsafe(32)
    row = await repository.add_refresh_token(session, RefreshToken(
        id=uuid.uuid4(), family_id=family_id, account_id=account.id, token_hash=_hash(raw), scope=" ".join(scopes),
        expires_at=clock.now() + dt.timedelta(seconds=lifetimes.refresh)))
    answer = TokenResponse(access_token=token, expires_in=lifetimes.access, scope=" ".join(scopes), refresh_token=raw)
    return answer, row


async def issue_login(session: AsyncSession, ring: KeyRing, account: Account, scopes: tuple[str, ...],
                      lifetimes: TokenLifetimes) -> TokenResponse:
    """A new login (refresh-token family) of an account that proved who it is."""
    return (await _issue_row(session, ring, account, scopes, lifetimes, None))[0]


async def password_grant(session: AsyncSession, ring: KeyRing, grant: PasswordGrant,
                         lifetimes: TokenLifetimes) -> TokenResponse:
    """Check the credentials and issue an access token and a refresh token, or refuse with `invalid_grant`."""
    account = await account_service.authenticate(session, grant.username, grant.password)
    if account is None:
        raise InvalidGrant()
    scopes = granted_scopes(account.role, grant.scope)
    return await issue_login(session, ring, account, scopes, lifetimes)


async def refresh_grant(session: AsyncSession, ring: KeyRing, grant: RefreshGrant,
                        lifetimes: TokenLifetimes) -> TokenResponse | InvalidGrant:
    """Rotate a refresh token: the presented one is used up and a new one joins its family.

    A token used a second time means someone else holds a copy: the whole family is revoked and
    the error is *returned*, so the caller commits the revocation before refusing. Within the
    grace window after a rotation (token/grace.py) the rotated token gets its first answer again."""
    stored = await repository.refresh_token_by_hash(session, _hash(grant.refresh_token))  # locks the row
    # Read after the lock: a concurrent refresh that rotated the token first committed before this
    # one read its row, so no "now" here is earlier than its rotation (see _within_grace).
    now = clock.now()
    if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
        return InvalidGrant("the refresh token is unknown, expired or revoked")
    if stored.rotated_at is not None and (again := await _within_grace(session, stored, grant, lifetimes, now)):
        return again
    if stored.rotated_at is not None:
        await repository.revoke_family(session, stored.family_id, now)
        await revocations.revoke_logins(session, [stored.family_id], "refresh token reused")
        await audit.record(session, str(stored.account_id), "refresh_token.family_revoked", "refresh_token",
                           str(stored.family_id), reason="a rotated refresh token was presented again")
        return RefreshTokenReused("the refresh token was already used: every token of this login is revoked")
    account = await account_service.active_account(session, stored.account_id)
    if account is None:
        await repository.revoke_family(session, stored.family_id, now)
        await revocations.revoke_logins(session, [stored.family_id], "account inactive")
        return InvalidGrant("the account is no longer active")
    scopes = granted_scopes(account.role, grant.scope or stored.scope)
    if set(scopes) - set(stored.scope.split()):
        raise InvalidScope("a refresh may narrow the scopes, never widen them")
    stored.rotated_at = now
    answer, successor = await _issue_row(session, ring, account, scopes, lifetimes, stored.family_id)
    stored.replaced_by = successor.id
    if lifetimes.grace > 0:
        stored.successor_sealed = grace.seal(grant.refresh_token, answer)
    return answer


async def _within_grace(session: AsyncSession, stored: RefreshToken, grant: RefreshGrant,
                        lifetimes: TokenLifetimes, now: dt.datetime) -> TokenResponse | None:
    """The answer the rotated token got, when asked again within the grace window, with the same
    scope, while its successor is unused and not revoked; else None (a reuse)."""
    assert stored.rotated_at is not None
    # Never below zero: two processes' clocks may differ by a little, and the row lock already
    # proved this request came after the rotation.
    elapsed = max(0.0, (now - stored.rotated_at).total_seconds())
    if stored.successor_sealed is None or stored.replaced_by is None or elapsed > lifetimes.grace:
        return None
    successor = await repository.refresh_token_by_id(session, stored.replaced_by)
    if successor is None or successor.rotated_at is not None or successor.revoked_at is not None:
        return None
    answer = grace.unseal(grant.refresh_token, stored.successor_sealed)
    if answer is None or (grant.scope and set(grant.scope.split()) != set(answer.scope.split())):
        return None
    answer.expires_in = max(1, answer.expires_in - int(elapsed))
    return answer


async def revoke_refresh_token(session: AsyncSession, raw: str, actor: Principal | str) -> bool:
    """Revoke the family of a refresh token (RFC 7009: an unknown token is not an error); True if found."""
    stored = await repository.refresh_token_by_hash(session, _hash(raw))
    if stored is None:
        return False
    if isinstance(actor, Principal) and actor.sub != str(stored.account_id):
        return False  # someone else's token: revoking it is not theirs to do, and they learn nothing
    if await repository.revoke_family(session, stored.family_id, dt.datetime.now(dt.UTC)):
        await revocations.revoke_logins(session, [stored.family_id], "login ended")
        await audit.record(session, actor if isinstance(actor, Principal) else str(stored.account_id),
                           "refresh_token.family_revoked", "refresh_token", str(stored.family_id),
                           reason="revoked by its holder")
    return True


async def logout(session: AsyncSession, caller: Principal, raw: str | None) -> None:
    """End one login (the family of the given refresh token) or, without one, every login of the caller."""
    if raw is not None:
        await revoke_refresh_token(session, raw, caller)
        return
    families = await repository.revoke_account_tokens(session, uuid.UUID(caller.sub), dt.datetime.now(dt.UTC))
    await revocations.revoke_logins(session, families, "logged out everywhere")
    await audit.record(session, caller, "account.logged_out", "account", caller.sub,
                       detail={"revoked": len(families)})


async def client_credentials_grant(session: AsyncSession, ring: KeyRing, grant: ClientCredentialsGrant,
                                   ttl: int) -> TokenResponse:
    """A machine client's token. A partner system: role `partner`, audience interop only,
    `partner` = its region code. One of our services: role `service`, the audiences its scopes name."""
    client = await repository.get_client(session, grant.client_id)
    ok = await account_service.check_secret(client.secret_hash if client else None, grant.client_secret)
    if client is None or not ok or not client.active:
        raise InvalidClient()
    allowed = tuple(client.scope.split())
    wanted = set(grant.scope.split()) if grant.scope and grant.scope.strip() else set(allowed)
    if extra := sorted(wanted.difference(allowed)):
        raise InvalidScope(f"not granted to {client.client_id}: {' '.join(extra)}")
    scopes = tuple(s for s in allowed if s in wanted)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ring.issuer, "sub": f"client:{client.client_id}", "iat": now, "exp": now + ttl,
        "jti": uuid.uuid4().hex, "scope": " ".join(scopes), "name": client.name, "client_id": client.client_id,
    }
    if client.kind == "service":
        claims.update(sub=f"service:{client.service}", aud=list(audiences_of(scopes)), role="service",
                      service=client.service)
    else:
        claims.update(aud=list(PARTNER_AUDIENCES), role="partner", partner=client.partner)
    return TokenResponse(access_token=ring.sign(claims), expires_in=ttl, scope=" ".join(scopes))


async def register_client(session: AsyncSession, client_id: str, secret: str, name: str, partner: str,
                          scopes: tuple[str, ...], actor: Principal | str) -> OAuthClient:
    """Register a partner system's OAuth client (secret argon2-hashed); scopes within PARTNER_SCOPES."""
    if extra := sorted(set(scopes).difference(PARTNER_SCOPES)):
        raise InvalidRequest(f"partner clients may hold only interop scopes, not {' '.join(extra)}")
    return await _add_client(session, OAuthClient(
        client_id=client_id, secret_hash=await account_service.hash_password(secret), name=name, kind="partner",
        partner=partner, scope=" ".join(scopes), active=True), actor)


async def register_service_client(session: AsyncSession, service_name: str, secret: str,
                                  actor: Principal | str) -> OAuthClient:
    """Register one of our services (client `svc-<name>`) with the scopes SERVICE_SCOPES grant it."""
    if service_name not in SERVICE_SCOPES:
        raise InvalidRequest(f"{service_name!r} calls no other service; known: {', '.join(sorted(SERVICE_SCOPES))}")
    return await _add_client(session, OAuthClient(
        client_id=f"svc-{service_name}", secret_hash=await account_service.hash_password(secret),
        name=f"tongban {service_name} service", kind="service", service=service_name,
        scope=" ".join(SERVICE_SCOPES[service_name]), active=True), actor)


async def _add_client(session: AsyncSession, client: OAuthClient, actor: Principal | str) -> OAuthClient:
    if await repository.get_client(session, client.client_id) is not None:
        raise ClientExists(f"client {client.client_id} exists")
    await repository.add_client(session, client)
    await audit.record(session, actor, "oauth_client.created", "oauth_client", client.client_id,
                       detail={"kind": client.kind, "partner": client.partner, "service": client.service,
                               "scope": client.scope})
    return client


async def list_clients(session: AsyncSession, page: PageParams) -> Page[OAuthClientRead]:
    """Every machine client, newest first (secrets are never shown)."""
    stmt = repository.clients_query()
    return await paginate(session, stmt, page, OAuthClientRead.model_validate)


async def set_client_active(session: AsyncSession, client_id: str, active: bool, reason: str,
                            actor: Principal) -> OAuthClient:
    """Switch a client off (its next token request fails and the tokens it holds stop at once) or on."""
    client = await repository.get_client(session, client_id)
    if client is None:
        raise ClientNotFound(f"no client {client_id}")
    if client.active and not active:
        # The tokens it holds stop at once, not when they expire.
        sub = f"service:{client.service}" if client.kind == "service" else f"client:{client.client_id}"
        await revocations.revoke_subject(session, sub, "client deactivated")
    client.active = active
    await audit.record(session, actor, "oauth_client.activated" if active else "oauth_client.deactivated",
                       "oauth_client", client_id, detail={"reason": reason})
    return client
