"""Compact signed tokens: `<PREFIX>.<base64url(RFC 8785 JSON)>.<base64url(signature)>`.

Presentations (`TBP1`) and seal stamps (`TBS1`) are the same construction with different claims;
one `CompactFormat` encodes and decodes both, and `check_published` checks one against a
published JWKS-like key set (GET /keys, GET /seal-keys) the way an offline verifier would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tongban.credentials.signing import algorithms


class CompactTokenError(ValueError):
    """The text is not a well-formed token of this format."""


@dataclass(frozen=True)
class CompactFormat:
    prefix: str
    claims: dict[str, type]                      # required claims and their JSON types
    error: type[ValueError] = CompactTokenError  # raised for malformed input (a subclass per format)
    check: Callable[[dict[str, Any]], str | None] = field(default=lambda _doc: None)  # extra rule: the fault or None

    def encode(self, document: dict[str, Any], signature: bytes) -> str:
        return f"{self.prefix}.{algorithms.b64u(algorithms.canonical(document))}.{algorithms.b64u(signature)}"

    def decode(self, text: str) -> tuple[dict[str, Any], bytes, bytes]:
        """(document, the signed bytes, signature); `self.error` when malformed."""
        parts = text.strip().split(".")
        if len(parts) != 3 or parts[0] != self.prefix:
            raise self.error(f"expected {self.prefix}.<payload>.<signature>")
        try:
            signed = algorithms.unb64u(parts[1])
            signature = algorithms.unb64u(parts[2])
            document = json.loads(signed)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.error("the payload or signature is not base64url JSON") from exc
        # bool is an int to Python, never to a claim that wants a number.
        if not isinstance(document, dict) or any(
                not isinstance(document.get(k), t) or (t is int and isinstance(document.get(k), bool))
                for k, t in self.claims.items()):
            raise self.error("the payload lacks a required claim")
        if (fault := self.check(document)) is not None:
            raise self.error(fault)
        return document, signed, signature


def check_published(key_set: dict[str, Any], document: dict[str, Any], signed: bytes, signature: bytes,
                    owner_claim: str, **must_match: str) -> str | None:
    """None when `document["kid"]` is a published key of `document[owner_claim]` (and the key's
    other members equal `must_match`) whose signature over `signed` checks out; else why not."""
    key = next((k for k in key_set.get("keys", []) if k.get("kid") == document["kid"]), None)
    if key is None or key.get("issuer") != document[owner_claim] or any(
            key.get(name) != value for name, value in must_match.items()):
        return "unknown key"
    try:
        algorithm, public = algorithms.public_key_from_jwk(key)
    except (ValueError, KeyError):
        return "unknown key"
    if not algorithms.verify(algorithm, public, signed, signature):
        return "bad signature"
    return None
