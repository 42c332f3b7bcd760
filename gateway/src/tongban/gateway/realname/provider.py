"""Real-name authentication providers (实名认证: face + resident ID number), outside the platform.

The citizen's app runs the provider's face check (粤省事, WeChat, the public-security real-name
service); the provider hands the app a signed answer, which the app gives the gateway. The
gateway trusts only the signature, never the app: it checks it with the provider's public key,
that the check passed and is fresh, and records it (realname/service.py).

`LocalProvider` plays such a provider for `make run` and tests: it signs whatever it is asked
(there is no face to look at), with an Ed25519 key derived from a configured seed so every
gateway process of one installation agrees on it. Production refuses it (config.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tongban.gateway.realname.errors import InvalidProviderAnswer
from tongban.shared import clock

MAX_AGE = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class ProviderAnswer:
    """What a provider vouches for: this face matched the photo on file for this ID number and name."""

    provider: str
    answer_id: str
    id_number: str
    name: str
    checked_at: dt.datetime


class RealNameProvider(Protocol):
    name: str

    def verify(self, answer: str) -> ProviderAnswer:
        """The answer's facts if its signature, freshness and result hold; else InvalidProviderAnswer."""
        ...


class SignedAnswerProvider:
    """A provider whose answers are EdDSA-signed JWTs: {iss, jti, iat, id_number, name, result}."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        self.name = name
        self._public = public_key

    def verify(self, answer: str) -> ProviderAnswer:
        try:
            claims = jwt.decode(answer, self._public, algorithms=["EdDSA"], issuer=self.name,
                                options={"require": ["iss", "jti", "iat"], "verify_iat": False})
        except jwt.PyJWTError as exc:
            raise InvalidProviderAnswer(f"the provider's signature does not hold: {exc}") from exc
        if claims.get("result") != "pass":
            raise InvalidProviderAnswer("the provider did not confirm the face and ID number")
        checked_at = dt.datetime.fromtimestamp(float(claims["iat"]), dt.UTC)
        if not dt.timedelta(minutes=-1) < clock.now() - checked_at < MAX_AGE:
            raise InvalidProviderAnswer("the provider's answer is stale; check again")
        id_number, name = claims.get("id_number"), claims.get("name")
        if not isinstance(id_number, str) or not isinstance(name, str):
            raise InvalidProviderAnswer("the provider's answer names no person")
        return ProviderAnswer(self.name, str(claims["jti"]), id_number, name, checked_at)


class LocalProvider(SignedAnswerProvider):
    """The stand-in provider for `make run` and tests; it also signs (`check`)."""

    def __init__(self, seed: str) -> None:
        self._private = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed.encode()).digest())
        super().__init__("local", self._private.public_key())

    def check(self, id_number: str, name: str) -> str:
        """The signed answer the provider would give after a face check of this person."""
        return jwt.encode({"iss": self.name, "jti": uuid.uuid4().hex, "iat": int(clock.now().timestamp()),
                           "id_number": id_number, "name": name, "result": "pass"},
                          self._private, algorithm="EdDSA")
