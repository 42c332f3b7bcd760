"""The QR payload of a presentation, and its verification without the service (offline).

`TBP1.<base64url(RFC 8785 JSON)>.<base64url(signature)>`: the JSON names the signing `kid`,
so anyone holding the published key set (GET /keys) can check the signature, the expiry and,
with the published status lists, revocation and suspension, without calling the service.
"""

from __future__ import annotations

import base64
import gzip
import time
from dataclasses import dataclass
from typing import Any

from tongban.credentials.signing import algorithms, proof
from tongban.credentials.signing.token import CompactFormat, check_published


class TokenError(ValueError):
    """The text is not a well-formed presentation."""


FORMAT = CompactFormat("TBP1", {"v": int, "pid": str, "lid": str, "ver": int, "typ": str, "iss": str, "iat": int,
                                "exp": int, "kid": str, "fields": dict, "status": dict}, TokenError)
PREFIX = FORMAT.prefix
encode = FORMAT.encode
decode = FORMAT.decode


def bit_set(encoded_list: str, index: int) -> bool:
    """Is position `index` set in a W3C Bitstring Status List `encodedList`?"""
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded_list[1:] + "=" * (-len(encoded_list[1:]) % 4)))
    return bool(raw[index // 8] & (0x80 >> (index % 8)))


def trusted_status_list(credential: dict[str, Any], key_set: dict[str, Any],
                        now: float | None = None) -> tuple[str, str]:
    """Check a (possibly cached) status list credential: its proof against the published keys and
    its `validUntil`. Returns `("<list id>:<purpose>", encodedList)` for `verify_offline`;
    TokenError when it cannot be trusted."""
    by_kid = {k.get("kid"): k for k in key_set.get("keys", [])}

    def public_key(kid: str) -> tuple[str, bytes] | None:
        key = by_kid.get(kid)
        return algorithms.public_key_from_jwk(key) if key is not None else None

    if not proof.check_proof(credential, public_key):
        raise TokenError("the status list's proof does not check out with the published keys")
    valid_until = credential.get("validUntil")
    if not isinstance(valid_until, str) or valid_until < time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                      time.gmtime(now or time.time())):
        raise TokenError("the status list copy is stale (past validUntil)")
    try:
        subject = credential["credentialSubject"]
        list_id = str(credential["id"]).split("/status-lists/")[1].split("?")[0]
        return f"{list_id}:{subject['statusPurpose']}", str(subject["encodedList"])
    except (KeyError, IndexError, TypeError) as exc:
        raise TokenError("not a BitstringStatusListCredential") from exc


@dataclass(frozen=True)
class OfflineResult:
    result: str
    reason: str
    document: dict[str, Any] | None = None


def verify_offline(token: str, key_set: dict[str, Any], status_lists: dict[str, str] | None = None,
                   now: float | None = None) -> OfflineResult:
    """Verify a presentation with the published keys (and, if given, the encoded status lists
    keyed by `"<list id>:<purpose>"`, see `trusted_status_list`). Superseded versions and replays
    need the online check."""
    try:
        document, signed, signature = decode(token)
    except TokenError as exc:
        return OfflineResult("invalid", str(exc))
    fault = check_published(key_set, document, signed, signature, "iss")
    if fault is not None:
        return OfflineResult("forged", "signed by a key the issuer never published" if fault == "unknown key"
                             else "the signature does not match")
    if (now or time.time()) > document["exp"]:
        return OfflineResult("invalid", "the presentation has expired", document)
    status = document["status"]
    for purpose, result in (("revocation", "revoked"), ("suspension", "suspended")):
        encoded = (status_lists or {}).get(f"{status.get('list')}:{purpose}")
        if encoded is not None and bit_set(encoded, int(status.get("index", 0))):
            return OfflineResult(result, f"the licence is {result}", document)
    valid_until = document.get("valid_until")
    if valid_until is not None and valid_until < time.strftime("%Y-%m-%d", time.gmtime(now or time.time())):
        return OfflineResult("expired", "the licence has expired", document)
    return OfflineResult("valid", "signature, expiry and status lists check out", document)
