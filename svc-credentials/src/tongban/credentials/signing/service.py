"""Issuers and their keys: create on first use, rotate on demand, publish the public halves.

A rotation retires the active key (it keeps verifying what it signed) and makes a new one;
changing an issuer's algorithm is a rotation to a key of the new algorithm.
"""

import secrets
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tongban.credentials.db import audit
from tongban.credentials.signing import algorithms, keystore, repository
from tongban.credentials.signing.errors import IssuerNotFound
from tongban.credentials.signing.models import Issuer, SigningKey
from tongban.credentials.signing.schemas import IssuerUpdate
from tongban.shared.auth import Principal


async def ensure_issuer(session: AsyncSession, code: str, name: str, actor: Principal | str) -> Issuer:
    """The issuer with this code, created (Ed25519) with its first key if the platform has not seen
    it before: the key is published (GET /keys) before the first licence, so a partner city that
    pulls our keys trusts it in advance instead of calling its first licences forged."""
    issuer = await repository.get_issuer(session, code)
    if issuer is None:
        issuer = Issuer(code=code, name=name, algorithm="Ed25519")
        await repository.add(session, issuer)
        await audit.record(session, actor, "issuer.created", "issuer", code, detail={"algorithm": "Ed25519"})
        await _new_key(session, issuer, actor)
    return issuer


async def update_issuer(session: AsyncSession, code: str, data: IssuerUpdate, actor: Principal) -> Issuer:
    """Set an issuer's name and algorithm; a new algorithm rotates its key at once."""
    issuer = await repository.get_issuer(session, code, lock=True)
    if issuer is None:
        issuer = Issuer(code=code, name=data.name, algorithm=data.algorithm)
        await repository.add(session, issuer)
        await audit.record(session, actor, "issuer.created", "issuer", code, detail={"algorithm": data.algorithm})
        return issuer
    changed = issuer.algorithm != data.algorithm
    issuer.name, issuer.algorithm = data.name, data.algorithm
    await repository.save(session, issuer)
    await audit.record(session, actor, "issuer.updated", "issuer", code, detail={"algorithm": data.algorithm})
    if changed:
        await _new_key(session, issuer, actor)
    return issuer


async def rotate_key(session: AsyncSession, code: str, actor: Principal, reason: str | None) -> SigningKey:
    """Retire the issuer's active key and make a new one."""
    issuer = await repository.get_issuer(session, code, lock=True)
    if issuer is None:
        raise IssuerNotFound(f"no issuer {code}")
    return await _new_key(session, issuer, actor, reason)


async def signing_key_for(session: AsyncSession, issuer_code: str, actor: Principal | str) -> SigningKey:
    """The issuer's active key, made on first use (the issuer row lock keeps that to one key)."""
    key = await repository.active_key(session, issuer_code)
    if key is not None:
        return key
    issuer = await repository.get_issuer(session, issuer_code, lock=True)
    if issuer is None:
        raise IssuerNotFound(f"no issuer {issuer_code}")
    return await repository.active_key(session, issuer_code) or await _new_key(session, issuer, actor)


async def platform_key(session: AsyncSession, code: str, name: str, actor: str) -> SigningKey:
    """The active key of one of the platform's own signers (status lists, time-stamps), its issuer
    made on first use (a concurrent first use loses the insert race harmlessly); published in
    GET /keys like every issuer's."""
    if await repository.get_issuer(session, code) is None:
        try:
            async with session.begin_nested():
                await ensure_issuer(session, code, name, actor)
        except IntegrityError:
            pass
    return await signing_key_for(session, code, actor)


async def _new_key(session: AsyncSession, issuer: Issuer, actor: Principal | str,
                   reason: str | None = None) -> SigningKey:
    await repository.retire_keys(session, issuer.code)
    kid = f"{issuer.code}-{secrets.token_hex(6)}"
    public = keystore.current().generate(kid, issuer.algorithm)
    key = SigningKey(kid=kid, issuer_code=issuer.code, algorithm=issuer.algorithm, public_key=public,
                     status="active")
    await repository.add(session, key)
    await audit.record(session, actor, "key.rotated", "issuer", issuer.code, reason=reason,
                       detail={"kid": kid, "algorithm": issuer.algorithm})
    return key


def sign(key: SigningKey, document: Any) -> str:
    """Sign the RFC 8785 form of `document` with `key`; the signature as base64url."""
    return algorithms.b64u(keystore.current().sign(key.kid, key.algorithm, algorithms.canonical(document)))


def verify(key: SigningKey, document: Any, signature: str) -> bool:
    try:
        raw = algorithms.unb64u(signature)
    except ValueError:
        return False
    return algorithms.verify(key.algorithm, key.public_key, algorithms.canonical(document), raw)


async def key_set(session: AsyncSession) -> dict[str, list[dict[str, str]]]:
    """Every issuer public key, JWKS-shaped."""
    return {"keys": [algorithms.jwk(k.kid, k.algorithm, k.public_key, k.issuer_code, k.status)
                     for k in await repository.all_keys(session)]}
