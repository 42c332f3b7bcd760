"""The stamp a sealed document carries: `TBS1.<base64url(RFC 8785 JSON)>.<base64url(signature)>`.

The JSON names the seal, its key, the company, the document digest and when it was sealed; the
seal's own key signs it, so anyone with the published seal keys (GET /seal-keys) can check it.
"""

from __future__ import annotations

import json
from typing import Any

from tongban.credentials.signing import algorithms

PREFIX = "TBS1"
_REQUIRED = {"v": int, "seal": str, "kid": str, "company": str, "kind": str, "name": str, "alg": str, "hash": str,
             "use": int, "at": str}


class StampError(ValueError):
    """The text is not a well-formed stamp."""


def encode(document: dict[str, Any], signature: bytes) -> str:
    return f"{PREFIX}.{algorithms.b64u(algorithms.canonical(document))}.{algorithms.b64u(signature)}"


def decode(stamp: str) -> tuple[dict[str, Any], bytes, bytes]:
    """(document, the signed bytes, signature); StampError when malformed."""
    parts = stamp.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise StampError(f"expected {PREFIX}.<payload>.<signature>")
    try:
        signed = algorithms.unb64u(parts[1])
        signature = algorithms.unb64u(parts[2])
        document = json.loads(signed)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StampError("the payload or signature is not base64url JSON") from exc
    if not isinstance(document, dict) or any(not isinstance(document.get(k), t) for k, t in _REQUIRED.items()):
        raise StampError("the payload lacks a required claim")
    if isinstance(document["use"], bool) or not 0 < document["use"] < 2 ** 63:
        raise StampError("the use number is out of range")
    return document, signed, signature


def verify_offline(stamp: str, document_hash: str, hash_algorithm: str,
                   seal_keys: dict[str, Any]) -> tuple[str, str]:
    """Check a sealed document without the service: the stamp's signature against the published
    seal keys (GET /seal-keys) and the document's digest. Returns (result, reason); whether the
    application was recorded needs the online check."""
    try:
        document, signed, signature = decode(stamp)
    except StampError as exc:
        return "invalid", str(exc)
    key = next((k for k in seal_keys.get("keys", []) if k.get("kid") == document["kid"]), None)
    if key is None or key.get("issuer") != document["company"] or key.get("seal") != document["seal"]:
        return "forged", "signed by a key no published seal has"
    algorithm, public = algorithms.public_key_from_jwk(key)
    if not algorithms.verify(algorithm, public, signed, signature):
        return "forged", "the seal's signature does not match the stamp"
    if document["alg"] != hash_algorithm or document["hash"] != document_hash.lower():
        return "invalid", "the document's digest is not the one sealed"
    return "valid", "the seal's signature over this document's digest checks out"
