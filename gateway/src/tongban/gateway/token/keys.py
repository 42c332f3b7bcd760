"""Signing keys: ES256 (P-256) key pairs with the private half encrypted at rest, and the KeyRing
that signs with the newest key and verifies with every key not retired.

Verification reuses the platform's `TokenVerifier` (the one every service runs) fed with the
gateway's own JWKS, one verifier per audience; `load()` rebuilds them whenever the keys change.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption, Encoding, PrivateFormat, load_pem_private_key,
)
from jwt.algorithms import ECAlgorithm
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tongban.gateway.token import repository
from tongban.shared.auth import InvalidToken, Principal, TokenVerifier

ALGORITHM = "ES256"
# Another replica may have added a key: a token with a kid this ring does not know makes it
# re-read the keys, at most this often (a flood of forged kids must not flood the database).
RELOAD_ON_UNKNOWN_KID_INTERVAL = 5.0
# The ring re-reads the keys when it signs and its copy is older than this, so a key created
# by another replica signs here too within a minute.
SIGNING_KEYS_MAX_AGE = 60.0


class KeyUnusable(RuntimeError):
    """A stored private key cannot be decrypted: the passphrase is not the one it was stored with."""


@dataclass(frozen=True)
class NewKey:
    kid: str
    private_pem: str
    public_jwk: dict[str, Any]


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of an EC public key: a kid that names the key by its content."""
    members = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(members.encode()).digest()).rstrip(b"=").decode()


def generate_key(passphrase: bytes) -> NewKey:
    """A fresh P-256 key pair: the private half as encrypted PKCS#8 PEM, the public half as a JWK."""
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    kid = jwk_thumbprint(jwk)
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(passphrase))
    return NewKey(kid, pem.decode("ascii"), jwk)


def decrypt_key(kid: str, private_pem: str, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    try:
        key = load_pem_private_key(private_pem.encode("ascii"), password=passphrase)
    except (ValueError, TypeError) as exc:
        raise KeyUnusable(f"cannot decrypt signing key {kid}: is GATEWAY_KEY_PASSPHRASE the one it was "
                          "stored with?") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyUnusable(f"signing key {kid} is not an EC key")
    return key


class AudienceVerifier:
    """What `app.state.token_verifier` must be for `Requires(...)`: the ring, for one audience."""

    def __init__(self, ring: KeyRing, audience: str) -> None:
        self.ring = ring
        self.audience = audience

    async def verify(self, token: str) -> Principal:
        return await self.ring.verify(token, self.audience)


class KeyRing:
    """The gateway's keys in memory: the newest signs, all of them verify."""

    def __init__(self, issuer: str, passphrase: bytes, audiences: Iterable[str]) -> None:
        self.issuer = issuer
        self.passphrase = passphrase
        self.audiences = tuple(audiences)
        self.kid: str | None = None
        self._private: ec.EllipticCurvePrivateKey | None = None
        self._verifiers: dict[str, TokenVerifier] = {}
        self.jwks: dict[str, Any] = {"keys": []}
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._loaded_at = 0.0
        self._reload_tried_at = 0.0
        self._lock = asyncio.Lock()
        # Bumped when the set of keys changes: caches of verified tokens (the proxy's) drop what an
        # older key set vouched for (a retired key's tokens stop at once).
        self.epoch = 0

    async def load(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """Read the keys not retired from the database; call at startup and after a key is created."""
        self._sessionmaker = sessionmaker
        self._loaded_at = time.monotonic()
        async with sessionmaker() as session:
            keys = await repository.active_keys(session)
        if not keys:
            raise KeyUnusable("there is no active signing key")
        newest = keys[0]
        private = await asyncio.to_thread(decrypt_key, newest.kid, newest.private_pem, self.passphrase)
        jwks = {"keys": [k.public_jwk for k in keys]}
        static = json.dumps(jwks)
        self._verifiers = {aud: TokenVerifier(aud, self.issuer, jwks_json=static) for aud in self.audiences}
        if {k.kid for k in keys} != self.kids:
            self.epoch += 1
        self.kid, self._private, self.jwks = newest.kid, private, jwks

    def sign(self, claims: dict[str, Any]) -> str:
        if self._private is None:
            raise KeyUnusable("the key ring is not loaded")
        return jwt.encode(claims, self._private, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": "JWT"})

    @property
    def kids(self) -> set[str]:
        return {k["kid"] for k in self.jwks["keys"]}

    async def reload(self) -> None:
        """Re-read the keys (after a rotation here or in another replica)."""
        if self._sessionmaker is None:
            raise KeyUnusable("the key ring is not loaded")
        async with self._lock:
            await self.load(self._sessionmaker)

    async def fresh(self) -> "KeyRing":
        """The ring, re-read first when its copy of the keys is older than SIGNING_KEYS_MAX_AGE."""
        if time.monotonic() - self._loaded_at > SIGNING_KEYS_MAX_AGE:
            await self.reload()
        return self

    async def _reloaded_for(self, token: str) -> bool:
        """Re-read the keys if the token names a kid this ring does not know (rate-limited)."""
        try:
            kid = json.loads(base64.urlsafe_b64decode(token.split(".", 1)[0] + "==")).get("kid")
        except (ValueError, AttributeError):
            return False
        now = time.monotonic()
        if not isinstance(kid, str) or kid in self.kids or now - self._reload_tried_at < RELOAD_ON_UNKNOWN_KID_INTERVAL:
            return False
        self._reload_tried_at = now
        await self.reload()
        return kid in self.kids

    async def verify(self, token: str, audience: str) -> Principal:
        verifier = self._verifiers.get(audience)
        if verifier is None:
            raise InvalidToken(f"no token is issued for {audience!r}")
        try:
            return await verifier.verify(token)
        except InvalidToken:
            if not await self._reloaded_for(token):
                raise
        return await self._verifiers[audience].verify(token)

    def for_audience(self, audience: str) -> AudienceVerifier:
        return AudienceVerifier(self, audience)
