"""Our city's identity: region code, name and Ed25519 signing keys.

Keys live in the database with the private half encrypted (PKCS#8, the passphrase from
INTEROP_KEY_PASSPHRASE), as the gateway keeps its token keys: every replica and the separate
worker process sign with the same key without a shared volume, a database backup carries the
keys in the only form that is useless without the passphrase, and a first start generates the
first key under an advisory lock so two processes starting together agree on it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tongban.interop.db import audit
from tongban.interop.identity import repository
from tongban.interop.identity.models import SigningKey
from tongban.shared import clock


class KeyUnusable(RuntimeError):
    """A stored private key cannot be decrypted with the configured passphrase."""


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_from_b64url(value: str) -> Ed25519PublicKey:
    """An Ed25519 public key from the JWK's `x` (raw 32 bytes, base64url); ValueError if it is not one."""
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def _new_key(region_code: str, passphrase: bytes) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    x = b64url(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    kid = f"{region_code}-{clock.now():%Y%m%d}-{hashlib.sha256(x.encode()).hexdigest()[:8]}"
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(passphrase))
    return SigningKey(kid=kid, public_key=x, private_pem=pem.decode("ascii"))


def _decrypt(key: SigningKey, passphrase: bytes) -> Ed25519PrivateKey:
    try:
        private = load_pem_private_key(key.private_pem.encode("ascii"), password=passphrase)
    except (ValueError, TypeError) as exc:
        raise KeyUnusable(f"cannot decrypt signing key {key.kid}: is INTEROP_KEY_PASSPHRASE the one it was "
                          "stored with?") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyUnusable(f"signing key {key.kid} is not an Ed25519 key")
    return private


def jwk(key: SigningKey) -> dict[str, Any]:
    return {"kty": "OKP", "crv": "Ed25519", "x": key.public_key, "kid": key.kid, "alg": "EdDSA", "use": "sig"}


@dataclass
class KeyRing:
    """Our keys in memory: the newest signs; all not retired are published."""

    region_code: str
    name: str
    kid: str
    private: Ed25519PrivateKey
    keys: list[dict[str, Any]]


async def ensure_keys(session: AsyncSession, region_code: str, passphrase: bytes) -> list[SigningKey]:
    """Our active keys, generating the first one if there is none (first start)."""
    await repository.lock_keys(session)
    keys = await repository.active_keys(session)
    if not keys:
        key = await asyncio.to_thread(_new_key, region_code, passphrase)
        await repository.add(session, key)
        await audit.record(session, "interop", "signing_key.generated", "signing_key", key.kid,
                           reason="first start: no signing key")
        keys = [key]
    return keys


async def load_ring(sessionmaker: async_sessionmaker[AsyncSession], region_code: str, name: str,
                    passphrase: bytes) -> KeyRing:
    """Read (or on first start create) our keys and decrypt the newest."""
    async with sessionmaker() as session, session.begin():
        keys = await ensure_keys(session, region_code, passphrase)
    private = await asyncio.to_thread(_decrypt, keys[0], passphrase)
    return KeyRing(region_code, name, keys[0].kid, private, [jwk(k) for k in keys])
