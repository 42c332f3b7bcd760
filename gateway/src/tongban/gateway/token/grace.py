"""The refresh grace window: a mini-program with several pages open refreshes from each of them
at once, with the same refresh token. Without a grace window the second refresh looks like a
stolen copy and ends the login.

Within `refresh_grace_seconds` of a rotation, and while the successor token is unused and not
revoked, the rotated token gets the very answer its first use got (the same access token, the
same new refresh token). That answer is kept on the rotated row sealed (AES-GCM) under a key
derived from the rotated token's raw value, which the gateway never stores: the row alone, say in
a database dump, opens nothing. After the window, or once the successor was used, a rotated
token presented again is a reuse as before and ends the whole login.

What the window gives a thief holding a copy: the pair the holder got in the same seconds, not a
pair of its own; the holder's next refresh and the thief's race for the successor, and the loser
triggers reuse detection."""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tongban.gateway.token.schemas import TokenResponse

_CONTEXT = b"tongban refresh grace v1|"


def _key(raw: str) -> bytes:
    return hashlib.sha256(_CONTEXT + raw.encode("utf-8", "replace")).digest()


def seal(raw: str, answer: TokenResponse) -> str:
    """The answer, sealed under the raw refresh token it answered."""
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_key(raw)).encrypt(nonce, answer.model_dump_json().encode(), _CONTEXT)
    return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(raw: str, sealed: str) -> TokenResponse | None:
    """The answer sealed under `raw`, or None when it does not open."""
    try:
        blob = base64.urlsafe_b64decode(sealed.encode("ascii"))
        plain = AESGCM(_key(raw)).decrypt(blob[:12], blob[12:], _CONTEXT)
    except (ValueError, InvalidTag):
        return None
    return TokenResponse.model_validate_json(plain)
